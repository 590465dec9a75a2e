//! The shared end-to-end harness: a moto SSM emulator per test process, a
//! fault-injecting HTTP proxy in front of it, loopback HTTP servers, the real
//! readers of what ssmm writes, and builders that run the real `ssmm`
//! binary in a hermetic environment.
//!
//! Areas use only the parts they need, so some helpers go unused in a
//! filtered build.

#![allow(dead_code, unused_imports)]

pub mod cmd;
pub mod creds;
pub mod expect;
pub mod formats;
pub mod fs;
pub mod http;
pub mod moto;
pub mod proxy;
pub mod pty;
pub mod readers;
pub mod rows;
pub mod systemd_model;
pub mod test;
pub mod units;

pub use cmd::{Outcome, Running, Ssmm};
pub use moto::{Moto, block_on, block_on_fresh, moto, sdk_client, unique_prefix};
pub use proxy::{Fault, FaultProxy, Plan};
pub use rows::{Rows, Watch};
pub use test::{Run, Test};

/// splitmix64's finaliser: a cheap, well-mixed hash of one `u64`. Enough for
/// unique test namespaces and for the proxy's seeded fault choices, without a
/// `rand` dependency.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Owned `(key, value)` pairs, sorted (to compare with [`Moto::tags`]).
pub fn sorted_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}
