//! The testable core of ttrapd: command-line parsing, the inotify
//! read-buffer parser, value escaping, syslog line formatting and the queue
//! of lines waiting for syslog.
//!
//! Nothing here makes a system call or allocates, so the same code runs in
//! the static `no_std` binary and, under `cfg(test)`, in the standard test
//! harness.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod args;
pub mod buf;
pub mod config;
pub mod escape;
pub mod fanotify;
pub mod flood;
pub mod inotify;
pub mod kernel;
pub mod limits;
pub mod msg;
pub mod names;
pub mod path;
pub mod pending;
pub mod procfs;
pub mod report;
pub mod rfc5424;
