#include "adapters/callback/callback_sink.hpp"
#include "adapters/jsonl/jsonl_sink.hpp"
#include "adapters/sql/sql_source.hpp"
#include "engine/registry.hpp"
#include "hooks/introductions/introductions.hpp"
#include "hooks/plugin/loaded_hook.hpp"
#include "hooks/thank_you/thank_you.hpp"

namespace rapport {

void register_builtins(Registry& registry) {
  registry.add(adapters::sql_source_kind());
  registry.add(hooks::introductions_kind());
  registry.add(hooks::thank_you_kind());
  registry.add(hooks::plugin_hook_kind());
  registry.add(adapters::jsonl_sink_kind());
  registry.add(adapters::stdout_sink_kind());
  registry.add(adapters::callback_sink_kind());
}

}  // namespace rapport
