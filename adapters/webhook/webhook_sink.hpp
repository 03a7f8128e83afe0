#pragma once
// The `webhook` sink: each action POSTed as JSON to one endpoint, signed the Standard
// Webhooks way (webhook-id = the action's id on every attempt, a fresh timestamp each
// time). Sends run on the sink's own thread (Beast, confined to webhook_sink.cpp) within
// a concurrency limit, a rate limit and a circuit breaker; the engine keeps the queue
// and the retry schedule's state in the store.

#include "engine/registry.hpp"

namespace rapport::webhook {

SinkKind webhook_sink_kind();

}  // namespace rapport::webhook
