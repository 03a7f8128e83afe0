#pragma once
// rapport/v1 JSON for every domain type. Events and actions travel in a CloudEvents 1.0
// envelope. The implementation uses Boost.JSON; this header needs only the standard
// library. Parsing throws JsonError naming the offending field.

#include <stdexcept>
#include <string>

#include "rapport/hook.hpp"
#include "rapport/types.hpp"

namespace rapport {

class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kSchema = "rapport/v1";
// The CloudEvents `dataschema` of our events and actions: CloudEvents 1.0 wants an
// absolute URI there (data.schema keeps the short name).
inline constexpr const char* kDataSchemaUri = "urn:rapport:v1";

std::string to_json(const Person&);
std::string to_json(const Rotation&);
std::string to_json(const Evaluation&);
std::string to_json(const Event&);   // CloudEvents envelope, data = payload
std::string to_json(const Action&);  // CloudEvents envelope, data = the action

std::string to_json(const ContextSnapshot&);

Person person_from_json(const std::string&);
Rotation rotation_from_json(const std::string&);
// Only the rotation's id (its errors as rotation_from_json's for the id; the other fields
// are not checked): what a hook needs to read the rotation as the mirror has it
// (HookContext::rotation), at a fraction of the cost of reading the whole payload.
std::string rotation_id_from_json(const std::string&);
Evaluation evaluation_from_json(const std::string&);
Event event_from_json(const std::string&);
Action action_from_json(const std::string&);
ContextSnapshot snapshot_from_json(const std::string&);

}  // namespace rapport
