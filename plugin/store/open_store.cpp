#include "store/open_store.hpp"

namespace rapport {

std::unique_ptr<Store> open_store(const config::Config& config, const StoreOpening& opening) {
  auto s = config.section("store");
  return open_sqlite_store({opening.path.value_or(s.str("path")), s.str("synchronous") == "full",
                            int(s.duration("busy_timeout").count()), opening.checkpoints});
}

}  // namespace rapport
