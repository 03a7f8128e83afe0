#include "adapters/callback/callback_sink.hpp"
#include "adapters/csv/csv_source.hpp"
#include "adapters/email/email_sink.hpp"
#include "adapters/jsonl/jsonl_sink.hpp"
#include "adapters/sql/sql_source.hpp"
#include "adapters/webhook/inbound.hpp"
#include "adapters/webhook/webhook_sink.hpp"
#include "engine/registry.hpp"
#include "hooks/follow_up/follow_up.hpp"
#include "hooks/interprofessional/interprofessional.hpp"
#include "hooks/introductions/introductions.hpp"
#include "hooks/letter_candidates/letter_candidates.hpp"
#include "hooks/mentor_suggest/mentor_suggest.hpp"
#include "hooks/peer_connect/peer_connect.hpp"
#include "hooks/plugin/loaded_hook.hpp"
#include "hooks/program_contacts/program_contacts.hpp"
#include "hooks/specialty_contacts/specialty_contacts.hpp"
#include "hooks/thank_you/thank_you.hpp"

namespace rapport {

void register_builtins(Registry& registry) {
  registry.add(adapters::sql_source_kind());
  registry.add(adapters::csv_source_kind());
  registry.add(webhook::webhook_source_kind());
  registry.add(hooks::introductions_kind());
  registry.add(hooks::thank_you_kind());
  registry.add(hooks::peer_connect_kind());
  registry.add(hooks::letter_candidates_kind());
  registry.add(hooks::program_contacts_kind());
  registry.add(hooks::specialty_contacts_kind());
  registry.add(hooks::interprofessional_kind());
  registry.add(hooks::follow_up_kind());
  registry.add(hooks::mentor_suggest_kind());
  registry.add(hooks::plugin_hook_kind());
  registry.add(adapters::jsonl_sink_kind());
  registry.add(adapters::stdout_sink_kind());
  registry.add(adapters::callback_sink_kind());
  registry.add(webhook::webhook_sink_kind());
  registry.add(email::email_sink_kind());
}

}  // namespace rapport
