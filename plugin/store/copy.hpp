#pragma once
// A whole store copied into another, of either backend (`rapport store copy`, and the
// scratch SQLite store `rapport simulate` runs on).

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "store/store.hpp"

namespace rapport {

// Copies every table of `from` into `to`, as one moment of `from` and in one transaction
// of `to`: all of it or nothing. Refuses (StoreError, nothing written) a target that
// holds anything. `progress` hears each table's name and rows copied so far, every
// 10,000 rows and at its end. Returns the rows copied, by table.
std::map<std::string, std::int64_t> copy_store(
    Store& from, Store& to,
    const std::function<void(const std::string& table, std::int64_t rows)>& progress = {});

}  // namespace rapport
