//! IPVS: virtual and real servers, ipsets, the `kube-ipvs0` addresses and
//! an iptables part. Only the start-up check is real so far: the kernel must
//! have IPVS (`/proc/net/ip_vs`, or `modprobe ip_vs` making it appear); many
//! kernels, this project's CI included, have none, and that is reported
//! plainly instead of failing later with an obscure tool error.

use super::{Applier, ApplyError, ApplyStats, Desired, Family, run};
use std::path::Path;

/// The IPVS applier.
#[derive(Debug, Default)]
pub struct Ipvs;

/// Is IPVS in the kernel (loading the module if needed)? The error says why not.
pub fn kernel_support() -> Result<(), String> {
    if Path::new("/proc/net/ip_vs").exists() {
        return Ok(());
    }
    let modprobe = match run("modprobe", &["ip_vs"], None) {
        Ok(_) if Path::new("/proc/net/ip_vs").exists() => return Ok(()),
        Ok(_) => "modprobe ip_vs succeeded but /proc/net/ip_vs is still absent".to_string(),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "this kernel has no IPVS: /proc/net/ip_vs does not exist and loading the module failed ({modprobe}); use --mode nftables or --mode iptables"
    ))
}

impl Applier for Ipvs {
    fn check_support(&self) -> Result<(), ApplyError> {
        kernel_support().map_err(ApplyError::Unsupported)?;
        Err(ApplyError::Unsupported(
            "ipvs mode: the kernel has IPVS, but applying IPVS rules is not implemented yet".into(),
        ))
    }

    fn apply(&mut self, _: &Desired, _: bool) -> Result<ApplyStats, ApplyError> {
        self.check_support().map(|_| unreachable_stats())
    }

    fn current(&self, _: Family) -> Result<String, ApplyError> {
        self.check_support().map(|_| String::new())
    }

    fn preview(&self, _: Family, _: &str) -> Result<String, ApplyError> {
        self.check_support().map(|_| String::new())
    }

    fn cleanup(&mut self) -> Result<(), ApplyError> {
        self.check_support()
    }
}

fn unreachable_stats() -> ApplyStats {
    ApplyStats {
        kind: super::ApplyKind::Noop,
        bytes: 0,
        rules: Vec::new(),
    }
}
