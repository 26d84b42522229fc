//! Checks of a rendered iptables ruleset that need no kernel, shared by
//! the property tests and the `render_iptables` fuzz target
//! (`fuzz/fuzz_targets/render_iptables.rs` includes this file): uses only
//! libsvc's public API.
#![allow(dead_code)]

use libsvc::Loaded;
use libsvc::proxy::iptables::model::{Match, Target};
use libsvc::proxy::iptables::{Ruleset, render::restore_text, rulesets};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::trace::{Packet, trace};

/// Every jump goes to a chain declared in the same table (or a built-in
/// target), and every chain jumped to has rules (KUBE-NODEPORTS may be empty).
pub fn check_jumps(rs: &Ruleset) -> Result<(), String> {
    for t in &rs.tables {
        for c in &t.chains {
            for r in &c.rules {
                if let Some(Target::Jump(to)) = &r.target {
                    match rs.chain(t.name, to) {
                        None => return Err(format!("{}: jump to undeclared {to}", c.name)),
                        Some(d) if d.rules.is_empty() && to != "KUBE-NODEPORTS" => {
                            return Err(format!("{}: jump to empty {to}", c.name));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for j in &rs.jumps {
        if let Some(Target::Jump(to)) = &j.rule.target
            && rs.chain(j.table, to).is_none()
        {
            return Err(format!("{}: jump to undeclared {to}", j.chain));
        }
    }
    Ok(())
}

/// Every KUBE-SVC/KUBE-SVL chain: the load-balancing jumps give each
/// endpoint chain 1/n, computed from the model and from the printed text.
pub fn check_equal_shares(rs: &Ruleset) -> Result<(), String> {
    for t in &rs.tables {
        for c in &t.chains {
            if !(c.name.starts_with("KUBE-SVC-") || c.name.starts_with("KUBE-SVL-")) {
                continue;
            }
            let jumps: Vec<_> = c
                .rules
                .iter()
                .filter(|r| {
                    matches!(&r.target, Some(Target::Jump(j)) if j.starts_with("KUBE-SEP-"))
                        && !r
                            .matches
                            .iter()
                            .any(|m| matches!(m, Match::RecentCheck { .. }))
                })
                .collect();
            let n = jumps.len();
            let mut left = 1.0f64;
            let mut left_text = 1.0f64;
            for (i, r) in jumps.iter().enumerate() {
                let (p, p_text) = match r.probability_n() {
                    Some(k) => {
                        if k != n - i {
                            return Err(format!(
                                "{}: rule {i} has 1/{k}, want 1/{}",
                                c.name,
                                n - i
                            ));
                        }
                        let printed = libsvc::proxy::iptables::render::probability_text(k);
                        (
                            Match::probability(k),
                            printed.parse::<f64>().unwrap_or(-1.0),
                        )
                    }
                    None if i + 1 == n => (1.0, 1.0),
                    None => return Err(format!("{}: rule {i} has no probability", c.name)),
                };
                let share = left * p;
                let share_text = left_text * p_text;
                let want = 1.0 / n as f64;
                if (share - want).abs() > 1e-12 || (share_text - want).abs() > 1e-8 {
                    return Err(format!(
                        "{}: endpoint {i} gets {share} ({share_text}), want {want}",
                        c.name
                    ));
                }
                left *= 1.0 - p;
                left_text *= 1.0 - p_text;
            }
        }
    }
    Ok(())
}

/// Splits a line the way iptables-restore does: blanks separate words,
/// double quotes group, a backslash inside quotes escapes the next byte.
pub fn restore_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in line.chars() {
        if quoted {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                any = true;
            }
            ' ' | '\t' => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// No name changes the rule structure: each rule line splits into the
/// same words as the same rule with every comment replaced by `X`, and
/// the comment words read back as the model's text.
pub fn check_no_injection(rs: &Ruleset) -> Result<(), String> {
    let text = restore_text(rs, true);
    let lines: Vec<&str> = text.lines().collect();
    let rules: usize = rs
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum();
    let expected_lines = rs.tables.len() * 2
        + rs.tables.iter().map(|t| t.chains.len()).sum::<usize>()
        + rules
        + rs.jumps.len();
    if lines.len() != expected_lines {
        return Err(format!("{} lines, expected {expected_lines}", lines.len()));
    }
    for t in &rs.tables {
        for c in &t.chains {
            for r in &c.rules {
                let line = libsvc::proxy::iptables::render::rule_line(&c.name, r);
                let mut plain = r.clone();
                let mut comments = Vec::new();
                for m in &mut plain.matches {
                    if let Match::Comment(cm) = m {
                        comments.push(cm.text.clone());
                        cm.text = "X".into();
                    }
                }
                let plain_line = libsvc::proxy::iptables::render::rule_line(&c.name, &plain);
                let (w, pw) = (restore_words(&line), restore_words(&plain_line));
                if w.len() != pw.len() {
                    return Err(format!("word count changed by a name: {line}"));
                }
                let mut k = 0;
                for (a, b) in w.iter().zip(&pw) {
                    if b == "X" {
                        let want: String = comments[k]
                            .chars()
                            .map(|c| if c.is_control() { '?' } else { c })
                            .collect();
                        if !want.starts_with(a.as_str()) {
                            return Err(format!("comment {a:?} is not {want:?}"));
                        }
                        k += 1;
                    } else if a != b {
                        return Err(format!("word {a:?} differs from {b:?} in {line}"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The fuzz target `render_iptables` (fuzz/fuzz_targets/render_iptables.rs)
/// calls this: any input renders without panicking, its rules split into
/// words exactly as built, every KUBE-SVC chain shares equally, and the
/// tracer runs on every cluster IP.
pub fn render_iptables_holds(loaded: &Loaded) -> Result<(), String> {
    let _ = render(
        loaded,
        Mode::Iptables,
        &RenderOptions {
            with_jumps: true,
            ..Default::default()
        },
    );
    for rs in rulesets(loaded) {
        check_no_injection(&rs)?;
        check_equal_shares(&rs)?;
    }
    for svc in &loaded.table.services {
        for ip in &svc.cluster_ips {
            for p in &svc.ports {
                let src = match ip {
                    std::net::IpAddr::V4(_) => std::net::IpAddr::from([10, 0, 0, 2]),
                    std::net::IpAddr::V6(_) => {
                        std::net::IpAddr::from([0xfd00u16, 0, 0, 0, 0, 0, 0, 2])
                    }
                };
                let packet = Packet {
                    in_interface: None,
                    src,
                    dst: *ip,
                    port: p.port,
                    protocol: p.protocol,
                };
                if let Ok(t) = trace(loaded, Mode::Iptables, &packet) {
                    let total: f64 = t.endpoints.iter().map(|e| e.probability).sum();
                    if !t.endpoints.is_empty() && (total - 1.0).abs() > 1e-9 {
                        return Err(format!("{ip}:{}: shares sum to {total}", p.port));
                    }
                }
            }
        }
    }
    Ok(())
}
