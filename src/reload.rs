//! SIGHUP: re-reading the configuration without a gap in watching.
//!
//! A new trap table is built in the second storage slot and armed on the
//! old table's inotify instance and fanotify group. The queues and every
//! mark the two share stay in place, so no event is lost or seen twice.
//! Only when everything in the new configuration checks out does the new
//! table replace the old one. The watches and marks that only the old one
//! used are then removed, and the differences are logged. A configuration
//! that fails to parse, names a trap that cannot be armed or a hook that
//! cannot run is rejected, and the running set stays as it was.

use ttrapd::buf::Buf;
use ttrapd::msg::Kind;

use crate::hooks::Hooks;
use crate::logger::Logger;
use crate::traps::Table;
use crate::{State, load};

/// Logs that the reload was rejected, and why.
fn reject(log: &mut Logger, reason: &str, detail: &[u8]) {
    let line = log.begin(Kind::Error);
    line.word("what", "reload-rejected");
    line.word("reason", reason);
    if !detail.is_empty() {
        line.text("detail", detail);
    }
    line.word("state", "previous-configuration-kept");
    log.send();
}

/// Re-reads every source of configuration and applies it, or logs why not.
pub fn reload(state: &mut State) {
    let State { table: old, log, policy, settings, args, texts, pidfile, .. } = state;
    let Some(mut table) = Table::take() else {
        reject(log, "busy", b"");
        return;
    };
    table.copy_cwd(old);

    let mut first_problem = Buf::<512>::new();
    let mut problems = 0;
    let config = load::load(*args, texts, &mut table, Some(&*old), &mut |problem| {
        problems += 1;
        if first_problem.is_empty() {
            load::format_problem(&mut first_problem, problem);
        }
    });
    let Ok(config) = config else {
        let text = first_problem.as_bytes();
        let text = text.strip_prefix(b"ttrapd: ").unwrap_or(text);
        reject(log, "invalid-configuration", text.strip_suffix(b"\n").unwrap_or(text));
        return;
    };

    // Options that shape the process itself need a restart.
    let changed_pidfile = match (config.pidfile, pidfile) {
        (None, None) => false,
        (Some(raw), Some(path)) => {
            ttrapd::path::AbsPath::<{ ttrapd::limits::PATH_MAX }>::new(old.cwd(), raw)
                .is_none_or(|new| new.as_bytes() != path.to_bytes())
        }
        _ => true,
    };
    let fixed = [
        ("foreground", config.foreground != settings.foreground),
        ("fanotify-mode", config.fanotify != settings.fanotify),
        ("pidfile", changed_pidfile),
        ("log-socket", !log.socket_is(old.cwd(), config.log_socket)),
    ];
    for (name, changed) in fixed {
        if changed {
            let line = log.begin(Kind::Warn);
            line.word("what", "reload-needs-restart");
            line.word("option", name);
            log.send();
        }
    }

    // Check everything before anything changes.
    if let Some(program) = config.exec {
        if let Err(errno) = crate::hooks::check_executable(program) {
            let mut detail = Buf::<512>::new();
            detail.push_bytes(program);
            detail.push_bytes(b": ");
            ttrapd::report::push_errno(&mut detail, errno.raw_os_error());
            reject(log, "hook-not-executable", detail.as_bytes());
            return;
        }
    }
    table.set_quiet(config.quiet);
    table.set_holders(config.holders);
    // The new table arms on the old one's inotify instance and fanotify
    // group: events queued there meanwhile are read after the swap.
    table.take_watchers(old);
    if let Err(error) = table.arm_all() {
        let failure = crate::arm_failure(&table, &error);
        let mut detail = Buf::<600>::new();
        ttrapd::report::format_failure(&mut detail, &failure);
        old.take_watchers(&mut table);
        table.release_unused(old);
        let text = detail.as_bytes();
        let text = text.strip_prefix(b"ttrapd: ").unwrap_or(text);
        reject(log, "trap-not-armed", text.strip_suffix(b"\n").unwrap_or(text));
        return;
    }
    old.release_unused(&mut table);

    // Commit: log the counts the old table held back, then swap.
    old.close_windows(true, log);
    table.stats = old.stats;
    let mut added = 0;
    for index in 0..table.len() {
        if !old.contains(table.path(index)) {
            added += 1;
            let line = log.begin(Kind::Hup);
            line.word("action", "trap-added");
            line.path("trap", table.path(index));
            log.send();
        }
    }
    let mut removed = 0;
    for index in 0..old.len() {
        if !table.contains(old.path(index)) {
            removed += 1;
            let line = log.begin(Kind::Hup);
            line.word("action", "trap-removed");
            line.path("trap", old.path(index));
            log.send();
        }
    }
    *old = table;

    log.set_identity(config.facility, config.severity, config.tag);
    log.set_remotes(config.remotes());
    match (config.exec, log.hooks_mut()) {
        (Some(program), Some(hooks)) => hooks.configure(program, config.exec_timeout),
        (Some(program), hooks @ None) => *hooks = Some(Hooks::new(program, config.exec_timeout)),
        (None, Some(hooks)) => hooks.configure(b"", config.exec_timeout),
        (None, None) => {}
    }
    policy.deny = config.deny;
    policy.set_allowed(config.allowed());
    settings.heartbeat = config.heartbeat;
    crate::warn_unmarked(old, log);

    let line = log.begin(Kind::Hup);
    line.word("action", "reloaded");
    line.num("traps", old.len() as u64);
    line.num("added", added);
    line.num("removed", removed);
    log.send();
}
