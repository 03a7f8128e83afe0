// The cost of one plugin call in-process and with `isolation: process` (a round trip to
// rapport-plugin-host over a Unix socket), side by side in one run. Measures, never fails.
//   plugin_isolation_bench [calls]     (default 20000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hooks/plugin/loaded_hook.hpp"
#include "support/fake_context.hpp"

using namespace rapport;

namespace {

double micros_per_call(Hook& hook, const Event& event, const HookContext& context, int calls) {
  hook.handle(event, context);  // warm
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) hook.handle(event, context);
  std::chrono::duration<double, std::micro> spent = std::chrono::steady_clock::now() - start;
  return spent.count() / calls;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = argc > 1 ? std::atoi(argv[1]) : 20000;
  ::setenv("RAPPORT_PLUGIN_HOST", PLUGIN_HOST, 0);
  test::FakeContext context;
  auto r =
      test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                          {{"P1", Role::attending}, {"P2", Role::nurse}, {"P3", Role::resident}});
  auto event = test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z");
  hooks::LoadedHook in_process("in_process", MISBEHAVING_PLUGIN, "{}");
  hooks::IsolationOptions options;
  hooks::LoadedHook isolated("isolated", hooks::load_isolated(MISBEHAVING_PLUGIN, "{}", options));
  double a = micros_per_call(in_process, event, context, calls);
  double b = micros_per_call(isolated, event, context, calls);
  std::printf("plugin call, %d calls each (event and context as JSON, one action back)\n", calls);
  std::printf("  in-process          %8.1f us/call\n", a);
  std::printf("  isolation: process  %8.1f us/call  (%.1fx in-process)\n", b, b / a);
  return 0;
}
