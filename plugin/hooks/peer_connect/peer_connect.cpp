#include "hooks/peer_connect/peer_connect.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <boost/json.hpp>

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> PeerConnect::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  std::optional<Rotation> rotation;
  if (event.type == EventType::followup_due) {  // our timer, `lead` before the start
    auto data = boost::json::parse(event.payload).as_object();
    if (!data.contains("hook") || data["hook"].as_string() != name_) return actions;
    rotation = context.rotation(std::string(data["rotation"].as_string()));
    if (!rotation || rotation->status == RotationStatus::cancelled) return actions;
  } else {
    rotation = live_rotation(event, context);
    if (!rotation) return actions;
    auto at = TimePoint{rotation->start} - options_.lead;
    if (options_.trigger == EventType::rotation_scheduled && event.occurred < at) {
      context.schedule("peers/" + rotation->id, at, rotation->student_id,
                       boost::json::serialize(boost::json::object{{"rotation", rotation->id}}));
      return actions;
    }
  }
  auto student = context.person(rotation->student_id);
  struct Peer {
    Visit visit;
    bool shared_interest = false;
    double score = 0;
  };
  std::map<std::string, Peer> best;  // the peer's most recent visit counts
  // Only rotations already over, before this one starts; the most recent first, and no
  // more than 20 x max_peers distinct peers, so that a busy site costs what a quiet one
  // does.
  const std::size_t scan = std::size_t(20 * options_.max_peers);
  Date cutoff = std::min(rotation->start, std::chrono::floor<std::chrono::days>(context.now()));
  for (const auto& v :
       context.relationships().visits_at(rotation->site, rotation->specialty, cutoff, scan + 1)) {
    if (v.student_id == rotation->student_id) continue;
    if (rotation->start - v.end > options_.window) break;
    if (!context.reachable(v.student_id)) continue;
    auto& p = best[v.student_id];
    p.visit = v;
    auto peer = context.person(v.student_id);
    p.shared_interest = student && peer && student->specialty && peer->specialty &&
                        *student->specialty == *peer->specialty;
    double age = double((rotation->start - v.end).count());
    p.score = std::pow(0.5, age / 365.0) + (p.shared_interest ? 0.5 : 0.0);
  }
  std::vector<Peer> ranked;
  for (auto& [id, p] : best) ranked.push_back(p);
  std::sort(ranked.begin(), ranked.end(), [](const Peer& a, const Peer& b) {
    return a.score != b.score ? a.score > b.score : a.visit.student_id < b.visit.student_id;
  });
  if (int(ranked.size()) > options_.max_peers) ranked.resize(std::size_t(options_.max_peers));
  for (const auto& p : ranked) {
    std::string reason = "A student who rotated on " + rotation->specialty + " at " +
                         rotation->site + " in " + month_year(p.visit.start) +
                         (p.shared_interest ? " and shares your interest in " + *student->specialty
                                            : std::string()) +
                         " can tell you how the team works and what they wish they had known.";
    // Once per rotation and peer, whichever event or timer made it.
    actions.push_back(
        make_action(name_, "peers/" + rotation->id, event, ActionType::peer_connect,
                    rotation->student_id, p.visit.student_id, event.occurred + options_.due_after,
                    expiry(TimePoint{rotation->start}, options_.max_lateness), std::move(reason),
                    {{"peer_rotation", p.visit.rotation_id},
                     {"peer_rotation_end", format_date(p.visit.end)},
                     {"site", rotation->site},
                     {"specialty", rotation->specialty},
                     {"shared_interest", p.shared_interest ? "yes" : "no"}}));
  }
  return actions;
}

}  // namespace rapport::hooks
