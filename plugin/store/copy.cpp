#include "store/copy.hpp"

#include "store/plans.hpp"

namespace rapport {
namespace {

struct NotEmpty {
  std::string table;
};

}  // namespace

std::map<std::string, std::int64_t> copy_store(
    Store& from, Store& to,
    const std::function<void(const std::string& table, std::int64_t rows)>& progress) {
  for (const auto& table : store_plans::tables()) {
    try {
      to.read_table(table, [&](const Store::Row&) { throw NotEmpty{table.name}; });
    } catch (const NotEmpty& e) {
      throw StoreError("the target store is not empty (its table " + e.table +
                       " has rows); nothing was copied");
    }
  }
  // The streams' last numbers, read first (on PostgreSQL this numbers what arrived).
  const auto last_event = from.last_event_seq();
  const auto last_action = from.last_action_seq();
  const auto last_release = from.last_release_seq();
  std::map<std::string, std::int64_t> copied;
  from.begin_snapshot();
  Transaction reading(from, Transaction::adopt);
  Transaction writing(to);
  for (const auto& table : store_plans::tables()) {
    std::vector<Store::Row> batch;
    std::int64_t& n = copied[table.name];
    auto flush = [&] {
      to.write_rows(table, batch);
      batch.clear();
    };
    from.read_table(table, [&](const Store::Row& row) {
      batch.push_back(row);
      if (batch.size() == 500) flush();
      if (++n % 10'000 == 0 && progress) progress(table.name, n);
    });
    flush();
    if (progress) progress(table.name, n);
  }
  to.finish_copy(last_event, last_action, last_release);
  writing.commit();
  reading.commit();
  return copied;
}

}  // namespace rapport
