#include <stdexcept>

#include "hooks/specialty_contacts/specialty_contacts.hpp"

namespace rapport::hooks {

HookKind specialty_contacts_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "specialty_contacts";
  kind.per_student = true;
  kind.max_lateness = "7d";
  kind.lateness_from = "the rotation's start";
  kind.schema = {"hooks (specialty_contacts)",
                 "Suggest specialists and openings matching the student's specialty interest.",
                 {
                     {.name = "max_contacts",
                      .type = Type::integer,
                      .description = "specialists suggested per rotation",
                      .default_value = "3",
                      .min = 1,
                      .max = 20},
                     {.name = "due_after",
                      .type = Type::duration,
                      .description = "when the suggestion falls due, after the rotation starts",
                      .default_value = "7d",
                      .min = 0,
                      .max = 90.0 * 86'400'000},
                     {.name = "openings",
                      .type = Type::any,
                      .description = "shadowing and research openings: a list of {id, contact, "
                                     "specialty, kind, title}",
                      .default_value = "[]"},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    SpecialtyContactsOptions o;
    o.max_lateness = max_lateness_of(s);
    o.max_contacts = int(s.integer("max_contacts"));
    o.due_after = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_after"));
    const config::Node* list = s.node()->get("openings");
    for (std::size_t i = 0; list && i < list->items.size(); ++i) {
      const auto& item = list->items[i];
      auto field = [&](const char* key) {
        const config::Node* v = item.get(key);
        if (!v || !v->is_scalar() || v->scalar.empty()) {
          throw std::runtime_error(s.path() + ".openings[" + std::to_string(i) + "]: missing \"" +
                                   key + "\" (line " + std::to_string(item.mark.line) + ")");
        }
        return v->scalar;
      };
      o.openings.push_back(
          {field("id"), field("contact"), field("specialty"), field("kind"), field("title")});
    }
    return std::make_unique<SpecialtyContacts>(name, std::move(o));
  };
  return kind;
}

}  // namespace rapport::hooks
