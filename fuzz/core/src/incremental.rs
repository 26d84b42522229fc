//! The incremental engine under random change sets: files (each a small
//! generated cluster, sometimes cut short like a half-written file) are put,
//! replaced and removed step by step. After each step the engine's outputs
//! equal a fresh load of the same files, and each backend's delta applied
//! to the old model gives the new one (`apply(old, diff(old, new)) == new`).

use crate::checks::overrides;
use crate::cluster::Cluster;
use arbitrary::Arbitrary;
use libsvc::Input;
use libsvc::incremental::{Change, Outputs, State, iptables, ipvs, nftables};
use libsvc::render::{Mode, RenderOptions};

/// The files a change set touches come from this many names.
const SLOTS: u8 = 4;

#[derive(Arbitrary, Debug, Clone)]
pub struct File {
    pub cluster: Cluster,
    /// Cut the text after this many bytes (a partial write).
    pub cut: Option<u16>,
}

impl File {
    fn input(&self, slot: u8) -> Input {
        let mut text = self.cluster.yaml();
        if let Some(cut) = self.cut {
            let mut at = (cut as usize).min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
        }
        Input::new(format!("f{}.yaml", slot % SLOTS), text)
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Step {
    /// (slot, new content; none: removed)
    pub changes: Vec<(u8, Option<File>)>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Scenario {
    pub initial: Vec<File>,
    pub steps: Vec<Step>,
}

const MODES: [Mode; 5] = [
    Mode::Iptables,
    Mode::Nftables,
    Mode::Ipvs,
    Mode::Env,
    Mode::Dns,
];

/// Each backend's delta applied to `old` gives `new`, up to the order the
/// kernel does not keep (`normalize`).
fn deltas_apply(
    old: &Outputs,
    new: &Outputs,
    d: &libsvc::incremental::Deltas,
) -> Result<(), String> {
    if let (Some(o), Some(n), Some(d)) = (&old.nftables, &new.nftables, &d.nftables)
        && nftables::normalize(&nftables::apply(o, d)) != nftables::normalize(n)
    {
        return Err("nftables: apply(old, delta) != new".into());
    }
    if let (Some(o), Some(n), Some(d)) = (&old.iptables, &new.iptables, &d.iptables)
        && iptables::normalize(&iptables::apply(o, d)) != iptables::normalize(n)
    {
        let (a, b) = (
            iptables::normalize(&iptables::apply(o, d)),
            iptables::normalize(n),
        );
        return Err(format!(
            "iptables: apply(old, delta) != new\n  applied: {:?}\n  new:     {:?}",
            a, b
        ));
    }
    // The sysctls (strictARP) come from the KubeProxyConfiguration, which
    // kube-proxy reads once at start: a change there is a restart, not a
    // delta, so they are left out.
    let applied_ipvs = |o: &libsvc::proxy::ipvs::model::IpvsRuleset,
                        n: &libsvc::proxy::ipvs::model::IpvsRuleset,
                        d: &ipvs::Delta| {
        let mut a = ipvs::apply(o, d);
        a.sysctls = n.sysctls.clone();
        ipvs::normalize(&a)
    };
    if let (Some(o), Some(n), Some(d)) = (&old.ipvs, &new.ipvs, &d.ipvs)
        && applied_ipvs(o, n, d) != ipvs::normalize(n)
    {
        return Err(format!(
            "ipvs: apply(old, delta) != new\n  applied: {:?}\n  new:     {:?}",
            applied_ipvs(o, n, d),
            ipvs::normalize(n)
        ));
    }
    if let (Some(o), Some(n), Some(d)) = (&old.dns, &new.dns, &d.dns) {
        let mut a: Vec<String> = d.apply(o).iter().map(|r| r.to_string()).collect();
        let mut b: Vec<String> = n.iter().map(|r| r.to_string()).collect();
        a.sort();
        b.sort();
        if a != b {
            return Err("dns: apply(old, delta) != new".into());
        }
    }
    Ok(())
}

/// The outputs are equal but for the IPVS sysctls (which a delta does not
/// carry: see `deltas_apply`).
fn same_but_sysctls(a: &Outputs, b: &Outputs) -> bool {
    let mut a = a.clone();
    if let (Some(x), Some(y)) = (a.ipvs.as_mut(), b.ipvs.as_ref()) {
        x.sysctls = y.sysctls.clone();
    }
    &a == b
}

/// Runs a scenario through the engine and checks every step.
pub fn check_scenario(s: &Scenario) -> Result<(), String> {
    let initial: Vec<Input> = s
        .initial
        .iter()
        .take(SLOTS as usize)
        .enumerate()
        .map(|(i, f)| f.input(i as u8))
        .collect();
    let opts = RenderOptions::default();
    // An input that does not build (an env pod that is not there, a
    // ruleset error) is an answer, not a violation.
    let Ok(mut state) = State::new(initial, overrides(), &MODES, opts.clone()) else {
        return Ok(());
    };
    for step in s.steps.iter().take(6) {
        let changes: Vec<Change> = step
            .changes
            .iter()
            .take(SLOTS as usize)
            .map(|(slot, f)| match f {
                Some(f) => Change::Put(f.input(*slot)),
                None => Change::Remove(format!("f{}.yaml", slot % SLOTS).into()),
            })
            .collect();
        let before = state.outputs().clone();
        let kept = state.clone();
        let update = match state.apply(changes) {
            Ok(u) => u,
            Err(_) => {
                // On an error the state is unchanged.
                if state.outputs() != kept.outputs() || state.loaded().table != kept.loaded().table
                {
                    return Err("a failed change set changed the state".into());
                }
                continue;
            }
        };
        let inputs: Vec<Input> = state.inputs().cloned().collect();
        let fresh = State::new(inputs, overrides(), &MODES, opts.clone())
            .map_err(|e| format!("the engine built what a fresh load refuses: {e}"))?;
        if state.outputs() != fresh.outputs() {
            return Err("after a change set the outputs differ from a fresh load".into());
        }
        if state.loaded().table != fresh.loaded().table {
            return Err("after a change set the Service table differs from a fresh load".into());
        }
        if state.loaded().diagnostics != fresh.loaded().diagnostics {
            let (a, b) = (&state.loaded().diagnostics, &fresh.loaded().diagnostics);
            let at = a
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            return Err(format!(
                "after a change set the diagnostics differ from a fresh load ({} vs {}), first: {:?} vs {:?}",
                a.len(),
                b.len(),
                a.get(at).map(|d| d.to_string()),
                b.get(at).map(|d| d.to_string())
            ));
        }
        deltas_apply(&before, state.outputs(), &update.deltas)?;
        if update.deltas.is_empty() != same_but_sysctls(&before, state.outputs()) {
            let n = state.outputs();
            let changed: Vec<&str> = [
                ("iptables", before.iptables != n.iptables),
                ("nftables", before.nftables != n.nftables),
                ("ipvs", before.ipvs != n.ipvs),
                ("env", before.env != n.env),
                ("dns", before.dns != n.dns),
            ]
            .into_iter()
            .filter_map(|(m, c)| c.then_some(m))
            .collect();
            let d = &update.deltas;
            let non_empty: Vec<String> = [
                (
                    Mode::Iptables,
                    d.iptables.as_ref().is_some_and(|x| !x.is_empty()),
                ),
                (
                    Mode::Nftables,
                    d.nftables.as_ref().is_some_and(|x| !x.is_empty()),
                ),
                (Mode::Ipvs, d.ipvs.as_ref().is_some_and(|x| !x.is_empty())),
                (Mode::Env, d.env.as_ref().is_some_and(|x| !x.is_empty())),
                (Mode::Dns, d.dns.as_ref().is_some_and(|x| !x.is_empty())),
            ]
            .into_iter()
            .filter(|(_, n)| *n)
            .map(|(m, _)| format!("{m:?}:\n{}", d.text(m)))
            .collect();
            return Err(format!(
                "delta empty: {}, outputs changed: {changed:?}; non-empty deltas: {non_empty:?}",
                d.is_empty()
            ));
        }
    }
    Ok(())
}
