#pragma once
// The SDK's JSON readers over a value already parsed, for this build's own code (the
// listener, the mirror) that parsed the text for its own reasons: the checks and errors are
// those of the text's readers in rapport/json.hpp, and an event's payload is its data
// serialized. Not installed: a plugin built against another Boost must not see Boost types
// in the SDK's interface.

#include <boost/json/fwd.hpp>

#include "rapport/json.hpp"

namespace rapport {

Person person_from_value(const boost::json::value&);
Rotation rotation_from_value(const boost::json::value&);
Evaluation evaluation_from_value(const boost::json::value&);
Event event_from_value(const boost::json::value&);

}  // namespace rapport
