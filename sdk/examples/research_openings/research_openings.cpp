// research_openings: when a student starts a rotation in the specialty they are
// interested in, point out the faculty there with research or shadowing openings.
//
//   hooks:
//     research:
//       plugin: /usr/local/lib/rapport/research_openings.so
//       config:
//         openings:
//           - {id: OPP-7, faculty: E0001, specialty: Internal Medicine, kind: research,
//              title: "Sepsis outcomes registry"}
#include <boost/json.hpp>

#include <stdexcept>

#include "rapport/plugin.hpp"

namespace {

struct Opening {
  std::string id, faculty, specialty, kind, title;
};

class ResearchOpenings : public rapport::Hook {
 public:
  explicit ResearchOpenings(const std::string& config_json) {
    auto config = boost::json::parse(config_json);
    const auto* openings = config.as_object().if_contains("openings");
    if (!openings || !openings->is_array()) {
      throw std::invalid_argument("config.openings: expected a list of openings");
    }
    for (const auto& o : openings->as_array()) {
      auto text = [&](const char* key) {
        const auto* v = o.as_object().if_contains(key);
        if (!v || !v->is_string()) {
          throw std::invalid_argument(std::string("config.openings: each needs a ") + key);
        }
        return std::string(v->as_string());
      };
      openings_.push_back({text("id"), text("faculty"), text("specialty"), text("kind"),
                           text("title")});
    }
  }

  std::string name() const override { return "research_openings"; }
  std::vector<rapport::EventType> subscribed() const override {
    return {rapport::EventType::rotation_started};
  }

  std::vector<rapport::Action> handle(const rapport::Event& event,
                                      const rapport::HookContext& context) override {
    std::vector<rapport::Action> actions;
    auto rotation = context.rotation(rapport::rotation_id_from_json(event.payload));
    auto student = context.person(event.subject);
    if (!rotation || !student || student->specialty != rotation->specialty) return actions;
    for (const auto& opening : openings_) {
      if (opening.specialty != rotation->specialty) continue;
      rapport::Action a;
      a.type = rapport::ActionType::opportunity;
      a.student_id = student->id;
      a.contact_id = opening.faculty;
      a.due = event.occurred + std::chrono::days(7);
      a.reason = "You are interested in " + opening.specialty + ": ask about the " +
                 opening.kind + " opening \"" + opening.title + "\" while you rotate here.";
      a.evidence = {{"opening", opening.id}, {"kind", opening.kind}, {"match", "declared interest"}};
      actions.push_back(std::move(a));
    }
    return actions;
  }

 private:
  std::vector<Opening> openings_;
};

}  // namespace

RAPPORT_EXPORT_HOOK(ResearchOpenings, "research_openings", "1.0.0", "rotation.started")
