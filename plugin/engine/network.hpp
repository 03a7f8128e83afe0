#pragma once
// A student's network as data: who they worked with (days together, roles, rotations,
// the evaluations each contact gave them) and the actions Rapport produced for them.
// `rapport explain` prints it; embedding hosts get it as JSON. It is about one student
// and for that student: evaluations marked anonymous never name their evaluator here.

#include <string>

#include "config/schema.hpp"
#include "rapport/hook.hpp"
#include "store/store.hpp"

namespace rapport {

// JSON text: {"student", "rotations", "contacts": [...], "actions": [...],
// "letter_candidates": [...], "open_follow_ups": [...]}; contacts strongest first.
// Letter candidates (with their score parts) appear when `letters` (the hook's config) is
// given. Throws std::invalid_argument for an unknown id.
std::string network_json(Store& store, const HookContext& context, const std::string& student_id,
                         const config::Section* letters = nullptr);

// Everything Rapport holds about one student, for a records request (`rapport export`,
// rapport_export_student): their person record, rotations with teams, the evaluations
// about them (an anonymous one without its evaluator), actions, the disclosure log of what
// was sent about them, erasures and whether they are kept out. JSON text.
std::string student_record_json(Store& store, const std::string& student_id);

}  // namespace rapport
