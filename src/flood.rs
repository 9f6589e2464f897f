//! Flood control for one trap: the first event of each kind in a quiet
//! window alerts at once, later ones of that kind are counted, and one
//! summary with the counts follows when the window closes.
//!
//! Counts are never lost: every event either raised an alert or is in the
//! summary. Times are milliseconds on a monotonic clock.

/// Event names that flood control tells apart, in summary order. The
/// first [`ALERT_EVENTS`] are the names of the `event` field; `allowed`
/// counts the accesses of `--allow` programs apart, so that they never
/// hold back an alert about someone else.
pub const EVENTS: [&str; 15] = [
    "open", "exec", "read", "write", "attrib", "move", "delete", "replace", "list", "create",
    "move_out", "move_in", "changed", "allowed", "other",
];

/// How many entries of [`EVENTS`] are event names.
pub const ALERT_EVENTS: usize = 13;

/// Index of `event` in [`EVENTS`]; unknown names share the last slot.
pub fn event_index(event: &str) -> usize {
    EVENTS.iter().position(|&name| name == event).unwrap_or(EVENTS.len() - 1)
}

/// Decision about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the alert (and run the hook).
    Alert,
    /// Count it for the summary.
    Count,
}

/// The window of one trap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// When the window closes; 0 while no window is open.
    closes_at: u64,
    /// Event kinds that already alerted in this window, one bit each.
    alerted: u16,
    /// Events counted in this window, per kind.
    counts: [u32; EVENTS.len()],
}

impl Window {
    pub const EMPTY: Window = Window { closes_at: 0, alerted: 0, counts: [0; EVENTS.len()] };

    /// Decides about an event of kind `event` at time `now`, with windows of
    /// `quiet_ms` (0 turns flood control off).
    pub fn on_event(&mut self, now: u64, quiet_ms: u64, event: usize) -> Decision {
        if quiet_ms == 0 {
            return Decision::Alert;
        }
        if self.closes_at == 0 {
            self.closes_at = now.saturating_add(quiet_ms).max(1);
        }
        let bit = 1u16 << event;
        if self.alerted & bit == 0 {
            self.alerted |= bit;
            Decision::Alert
        } else {
            self.counts[event] = self.counts[event].saturating_add(1);
            Decision::Count
        }
    }

    /// When the open window closes, if one is open.
    pub fn deadline(&self) -> Option<u64> {
        if self.closes_at == 0 { None } else { Some(self.closes_at) }
    }

    /// Closes the window if it is due at `now` (or `force`) and returns the
    /// counts to summarize, or `None` when the window is still open. All
    /// counts zero means nothing needs to be said.
    pub fn close(&mut self, now: u64, force: bool) -> Option<[u32; EVENTS.len()]> {
        if self.closes_at == 0 || (!force && now < self.closes_at) {
            return None;
        }
        let counts = self.counts;
        *self = Window::EMPTY;
        Some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: usize = 2;
    const DELETE: usize = 6;

    #[test]
    fn first_event_alerts_then_counts() {
        let mut window = Window::EMPTY;
        assert_eq!(window.on_event(1000, 10_000, READ), Decision::Alert);
        assert_eq!(window.on_event(1001, 10_000, READ), Decision::Count);
        assert_eq!(window.on_event(1002, 10_000, READ), Decision::Count);
        assert_eq!(window.deadline(), Some(11_000));
    }

    #[test]
    fn other_kind_alerts_inside_window() {
        let mut window = Window::EMPTY;
        window.on_event(0, 10_000, READ);
        assert_eq!(window.on_event(5, 10_000, DELETE), Decision::Alert);
        assert_eq!(window.on_event(6, 10_000, DELETE), Decision::Count);
    }

    #[test]
    fn window_closes_with_counts() {
        let mut window = Window::EMPTY;
        window.on_event(0, 100, READ);
        window.on_event(1, 100, READ);
        window.on_event(2, 100, READ);
        assert_eq!(window.close(99, false), None);
        let counts = window.close(100, false).unwrap();
        assert_eq!(counts[READ], 2);
        assert_eq!(counts.iter().sum::<u32>(), 2);
        assert_eq!(window.deadline(), None);
        assert_eq!(window.on_event(200, 100, READ), Decision::Alert);
    }

    #[test]
    fn alerts_plus_counts_equal_events() {
        let mut window = Window::EMPTY;
        let mut alerts = 0;
        let mut summarized = 0;
        for step in 0..10_000u64 {
            if window.on_event(step, 1000, (step % 3) as usize) == Decision::Alert {
                alerts += 1;
            }
            if let Some(counts) = window.close(step, false) {
                summarized += counts.iter().sum::<u32>();
            }
        }
        summarized += window.close(0, true).map_or(0, |c| c.iter().sum::<u32>());
        assert_eq!(alerts + summarized, 10_000);
        assert!(alerts <= 3 * 11);
    }

    #[test]
    fn zero_quiet_disables() {
        let mut window = Window::EMPTY;
        for _ in 0..5 {
            assert_eq!(window.on_event(0, 0, READ), Decision::Alert);
        }
        assert_eq!(window.deadline(), None);
    }

    #[test]
    fn forced_close_flushes_open_window() {
        let mut window = Window::EMPTY;
        window.on_event(0, 10_000, READ);
        window.on_event(0, 10_000, READ);
        assert_eq!(window.close(1, true).unwrap()[READ], 1);
        assert_eq!(window.close(1, true), None);
    }

    #[test]
    fn event_names_map_to_slots() {
        assert_eq!(event_index("read"), READ);
        assert_eq!(event_index("delete"), DELETE);
        assert_eq!(event_index("bogus"), EVENTS.len() - 1);
        assert!(EVENTS.len() <= 16);
    }
}
