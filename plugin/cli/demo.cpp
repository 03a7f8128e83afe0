// rapport demo: a synthetic institution, a semester on a simulated clock, a summary.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "adapters/email/digest_message.hpp"
#include "cli/commands.hpp"
#include "demo_config.hpp"  // generated from deploy/examples/demo.yaml
#include "files/private_files.hpp"
#include "hooks/common/team_text.hpp"
#include "institution.hpp"
#include "log/log.hpp"

namespace rapport::cli {
namespace {

void print_summary(Store& store, const std::string& dir) {
  auto counts = store.counts();
  std::printf("\nRapport demo: %lld people, %lld rotations, %lld evaluations\n",
              static_cast<long long>(counts.people), static_cast<long long>(counts.rotations),
              static_cast<long long>(counts.evaluations));
  std::printf("\nEvents seen: %lld\n", static_cast<long long>(counts.events));
  for (const auto& [type, n] : counts.events_by_type) {
    std::printf("  %-22s %6lld\n", type.c_str(), static_cast<long long>(n));
  }
  std::printf("\nActions: %lld (written to %s/actions.jsonl)\n",
              static_cast<long long>(counts.actions), dir.c_str());
  for (const auto& [type, n] : counts.actions_by_type) {
    std::printf("  %-22s %6lld\n", type.c_str(), static_cast<long long>(n));
  }
  int shown = 0;
  for (int i = 1; i <= 60 && shown < 2; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "L%04d", i);
    auto actions = store.actions_of(id);
    if (actions.empty()) continue;
    ++shown;
    std::printf("\nStudent %s: %zu actions; a sample, at most two of each kind:\n", id,
                actions.size());
    std::map<ActionType, int> shown_of;
    for (const auto& a : actions) {
      if (++shown_of[a.type] > 2) continue;
      auto contact = store.person(a.contact_id);
      std::printf("  %s  %-10s %s (%s)\n      %s\n",
                  format_date(std::chrono::floor<std::chrono::days>(a.due)).c_str(),
                  std::string(to_string(a.type)).c_str(),
                  contact ? contact->name.c_str() : a.contact_id.c_str(),
                  contact ? hooks::readable(contact->role).c_str() : "?", a.reason.c_str());
    }
  }
  // The budget's effect: what the hooks made for each student, against the prompts that
  // reached the student sink.
  std::size_t students = 0, made = 0, sent = 0, most_made = 0, most_sent = 0, waited = 0;
  for (int i = 1; i <= 60; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "L%04d", i);
    auto actions = store.actions_of(id).size();
    std::size_t prompts = 0;
    for (const auto& p : store.prompts_of(id)) {
      prompts += p.state == "sent" ? 1 : 0;
      waited += p.state == "sent" && p.deferrals > 0 ? 1 : 0;
    }
    if (actions == 0) continue;
    ++students;
    made += actions;
    sent += prompts;
    most_made = std::max(most_made, actions);
    most_sent = std::max(most_sent, prompts);
  }
  auto states = store.prompt_counts();
  if (students > 0 && !states.empty()) {
    std::printf(
        "\nPrompt budget (the sink students read, %s/prompts.jsonl, at most 5 prompts a "
        "week):\n  per student, %.1f actions made on average (at most %zu), %.1f prompts "
        "sent (at most %zu)\n  prompts sent %lld (%zu of them after waiting for a later "
        "week), still waiting %lld, dropped %lld\n",
        dir.c_str(), double(made) / double(students), most_made, double(sent) / double(students),
        most_sent, static_cast<long long>(states["sent"]), waited,
        static_cast<long long>(states["deferred"]), static_cast<long long>(states["dropped"]));
  }
  std::printf("\n");
}

// One student's digest of the semester's first week, as an email sink would compose it
// from what the budget released to the student sink (DIR/digest-L0001.html).
std::string write_sample_digest(Store& store, const std::string& dir, Date first_monday) {
  const std::string student = "L0001";
  DigestRequest request;
  request.id = content_hash("demo digest " + student);
  request.student_id = student;
  request.period_end = TimePoint{first_monday + std::chrono::days(7)} + std::chrono::hours(7);
  if (auto p = store.person(student)) {
    request.student_name = p->name;
    request.recipient = p->email.value_or("");
  }
  for (std::int64_t from = 0;;) {
    auto page = store.released_after(from, 500);
    if (page.empty()) break;
    for (auto& [seq, action] : page) {
      if (action.student_id != student || action.created < TimePoint{first_monday} ||
          action.created >= request.period_end) {
        continue;
      }
      DigestContact contact{action.contact_id, action.contact_id, "", std::nullopt};
      if (auto p = store.person(action.contact_id)) {
        contact = {p->id, p->name, std::string(to_string(p->role)), p->email};
      }
      request.entries.push_back({std::move(action), std::move(contact)});
    }
    from = page.back().seq;
  }
  if (request.entries.empty()) return "";
  email::MessageOptions options;
  options.from = "Clinical Education <rotations@example.edu>";
  options.school_name = "Example School of Medicine";
  options.signature = "The Office of Clinical Education";
  options.period = "weekly";
  auto composed = email::compose_message(request, options, email::load_templates(""));
  std::string path = dir + "/digest-" + student + ".html";
  files::write_private_file(path, composed.html);
  return path;
}

}  // namespace

int demo(const Args& args) {
  std::string dir = args.get(
      "--dir", std::getenv("RAPPORT_DEMO_DIR") ? std::getenv("RAPPORT_DEMO_DIR") : "rapport-demo");
  ::setenv("RAPPORT_DEMO_DIR", dir.c_str(), 1);
  try {
    files::create_private_directories(dir);
    std::string institution = dir + "/institution.db";
    demo::InstitutionShape shape;
    if (!std::filesystem::exists(institution)) {
      auto size = demo::generate_institution(institution, shape);
      std::printf(
          "Built a synthetic institution in %s: %d students, %d staff at 8 sites, "
          "%d rotations, %d evaluations\n",
          institution.c_str(), size.students, size.staff, size.rotations, size.evaluations);
    }
    Registry registry;
    register_builtins(registry);
    auto config = config::load_config_text(kDemoConfig, "deploy/examples/demo.yaml", registry);
    auto log = config->section("log");
    log::configure(log.str("level"), log.str("file"));
    auto engine = Engine::build(*config, registry);
    auto start = *parse_date(shape.first_monday) - std::chrono::days(7);
    auto end = start + std::chrono::days(7 + 28 * shape.blocks + 21);
    std::printf("Running the engine from %s to %s on a simulated clock...\n",
                format_date(start).c_str(), format_date(end).c_str());
    install_stop_signals();
    run_simulated(*engine, TimePoint{start}, TimePoint{end}, std::chrono::hours(24), 0);
    print_summary(engine->store(), dir);
    auto sample = write_sample_digest(engine->store(), dir, *parse_date(shape.first_monday));
    if (!sample.empty()) {
      std::printf("One student's first week as an email digest would show it (the email sink, "
                  "docs/email.md): %s\n\n",
                  sample.c_str());
    }
    return 0;
  } catch (...) {
    return failed("demo");
  }
}

}  // namespace rapport::cli
