#include "engine/store_context.hpp"

#include <boost/json.hpp>

#include <stdexcept>

#include "engine/timers.hpp"
#include "log/log.hpp"

namespace rapport {

void StoreContext::schedule(const std::string& key, TimePoint due, const std::string& subject,
                            const std::string& payload) const {
  boost::json::error_code ec;
  auto data = boost::json::parse(payload.empty() ? "{}" : payload, ec);
  if (ec || !data.is_object())
    throw std::invalid_argument("schedule: payload must be a JSON object");
  data.as_object()["hook"] = hook_;
  data.as_object()["key"] = key;
  Timer t;
  t.id = "hook/" + hook_ + "/" + key;
  t.due = due;
  t.event = Event{hook_ + "/" + key + "/" + format_time(due),
                  EventType::followup_due,
                  kSchedulerSource,
                  due,
                  subject,
                  boost::json::serialize(data)};
  store_.put_timer(t);
}

void StoreContext::notice(const std::string& message) const {
  store_.record_report(hook_, seq_, ReportKind::notice, message, now_);
  log::warn("dispatcher", "notice from a hook",
            {{"hook", hook_}, {"seq", seq_}, {"notice", message}});
}

}  // namespace rapport
