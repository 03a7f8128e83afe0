#pragma once
// Every kind of hook, source and sink the engine can build, each with its config schema
// and factory, registered explicitly (register_builtins, later plugins). Duplicate names
// are errors.

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "rapport/hook.hpp"

namespace rapport {

class Source;
class Sink;

struct HookKind {
  std::string type;
  config::Schema schema;
  // The default of the hook's `max_lateness` key (added to its schema with `budget`): how
  // long after the moment its actions are for they may still be made, held or sent. Empty:
  // the hook has no such key (a plugin sets `expires` on its actions itself).
  std::string max_lateness;
  std::string lateness_from;  // what it counts from, for the key's description
  // Whether the hook looks at one student at a time (no state across students in memory,
  // no cap across students): with engine.partitions, it runs per partition, in whichever
  // process holds that partition. The others (the letter and mentor assignments, plugins)
  // run in the one process that applies the mirror.
  bool per_student = false;
  std::function<std::unique_ptr<Hook>(const std::string& name, const config::Section&)> create;
};

struct SourceKind {
  std::string type;
  config::Schema schema;
  std::function<std::unique_ptr<Source>(const std::string& name, const config::Section&)> create;
  // Optional, for `rapport validate` without --no-connect: checks the section against the
  // real system (columns of the queries, ...), adding errors and warnings with file marks.
  std::function<void(const std::string& name, const config::Section&,
                     std::vector<config::Diagnostic>& out)>
      check;
  bool check_connects = true;  // false: `check` reads only the file (runs with --no-connect)
};

// Whether a configured sink reads actions (not a staff chat channel, which is told about
// days and notices).
inline bool reads_actions(const config::Section& sink) {
  auto format = sink.str("format");
  return format.empty() || format == "cloudevents";
}

struct SinkKind {
  std::string type;
  config::Schema schema;
  std::function<std::unique_ptr<Sink>(const std::string& name, const config::Section&)> create;
  // Optional, for `rapport validate` (file only): what the schema cannot check.
  std::function<void(const std::string& name, const config::Section&,
                     std::vector<config::Diagnostic>& out)>
      check;
};

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  void add(HookKind kind);
  void add(SourceKind kind);
  void add(SinkKind kind);

  const HookKind* hook(const std::string& type) const;
  const SourceKind* source(const std::string& type) const;
  const SinkKind* sink(const std::string& type) const;

  // The schema of the whole file; its `sources`, `hooks` and `sinks` resolve entries
  // through this registry.
  const config::Schema& root() const { return root_; }
  std::vector<const config::Schema*> component_schemas() const;

 private:
  std::deque<HookKind> hooks_;
  std::deque<SourceKind> sources_;
  std::deque<SinkKind> sinks_;
  config::Schema root_;
};

// Built-in hooks, sources and sinks; the one place they are named.
void register_builtins(Registry& registry);

// A hook section's max_lateness (see HookKind::max_lateness).
std::chrono::seconds max_lateness_of(const config::Section& hook);

}  // namespace rapport
