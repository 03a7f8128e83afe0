#pragma once
// A request to the status page and its answer, as plain data: the listener (Beast) turns
// HTTP into these and back, so the page itself knows nothing of Beast or Asio.

#include <string>
#include <utility>
#include <vector>

namespace rapport::status {

struct PageRequest {
  std::string method;         // GET, HEAD, ...
  std::string target;         // /status/student?id=S1
  std::string authorization;  // the Authorization header, as sent
  bool secure = false;        // over TLS
  bool loopback = false;      // from a loopback address
  std::string peer;           // the client's address
  std::string fetch_site;     // the Sec-Fetch-Site header (browsers send it)
};

struct PageReply {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace rapport::status
