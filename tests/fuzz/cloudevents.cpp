// CloudEvents JSON of the rapport/v1 vocabulary: whatever parses serializes and parses
// again to the same value (events, and each kind of payload they carry; actions); a
// rotation's id read alone agrees with the whole reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rapport/json.hpp"

using namespace rapport;

namespace {

template <typename Parse>
void round_trip(const std::string& text, Parse parse) {
  try {
    auto value = parse(text);
    if (!(parse(to_json(value)) == value)) __builtin_trap();
  } catch (const JsonError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto e = event_from_json(text);
    auto again = event_from_json(to_json(e));
    if (again.id != e.id || again.type != e.type || again.source != e.source ||
        again.occurred != e.occurred || again.subject != e.subject || again.payload != e.payload)
      __builtin_trap();
  } catch (const JsonError&) {
  }
  round_trip(text, [](const std::string& t) { return person_from_json(t); });
  round_trip(text, [](const std::string& t) { return rotation_from_json(t); });
  // The id alone: whatever the whole reader reads has that id, and whatever it refuses for
  // the id (or the JSON) is refused here too.
  try {
    auto id = rotation_id_from_json(text);
    try {
      if (rotation_from_json(text).id != id) __builtin_trap();
    } catch (const JsonError&) {  // another field did not fit
    }
  } catch (const JsonError&) {
    try {
      rotation_from_json(text);
      __builtin_trap();
    } catch (const JsonError&) {
    }
  }
  round_trip(text, [](const std::string& t) { return evaluation_from_json(t); });
  round_trip(text, [](const std::string& t) { return action_from_json(t); });
  return 0;
}
