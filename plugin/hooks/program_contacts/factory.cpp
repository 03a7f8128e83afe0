#include "hooks/program_contacts/program_contacts.hpp"

namespace rapport::hooks {

HookKind program_contacts_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "program_contacts";
  kind.per_student = true;
  kind.max_lateness = "7d";
  kind.lateness_from = "the rotation's start";
  kind.schema = {"hooks (program_contacts)",
                 "On sub-internships and away rotations, point out the host program's people.",
                 {
                     {.name = "max_contacts",
                      .type = Type::integer,
                      .description = "program people suggested per rotation",
                      .default_value = "5",
                      .min = 1,
                      .max = 30},
                     {.name = "due_after",
                      .type = Type::duration,
                      .description = "when the suggestion falls due, after the rotation starts",
                      .default_value = "3d",
                      .min = 0,
                      .max = 60.0 * 86'400'000},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    ProgramContactsOptions o;
    o.max_lateness = max_lateness_of(s);
    o.max_contacts = int(s.integer("max_contacts"));
    o.due_after = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_after"));
    return std::make_unique<ProgramContacts>(name, o);
  };
  return kind;
}

}  // namespace rapport::hooks
