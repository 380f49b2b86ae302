#pragma once
// systemd service notifications (Type=notify): readiness, stopping, and the watchdog interval.
// No-ops when not started by systemd.

#include <chrono>
#include <optional>

namespace tollgate {

void notify_ready();
void notify_stopping();
void notify_watchdog();
// Half the WatchdogSec= interval (how often to ping), when the watchdog is enabled for us.
std::optional<std::chrono::microseconds> watchdog_ping_interval();

}  // namespace tollgate
