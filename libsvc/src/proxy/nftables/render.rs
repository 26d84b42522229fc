//! The model as an `nft -f` transaction, in knftables' syntax: `add table`,
//! `add chain`, `add set`, `add map`, `add counter`, `add rule`,
//! `add element` lines.
//!
//! Order: tables, then chains, then sets, maps and counters (each sorted by
//! name), then every chain's rules in order, then elements — so that every
//! object exists before a rule or element refers to it and `nft -f` loads
//! the text as it is. kube-proxy's tests sort before comparing, so the
//! order costs nothing in conformance.

use super::model::*;
use std::fmt::{self, Write};

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            write_table_head(f, t)?;
        }
        for t in &self.tables {
            let mut chains: Vec<&Chain> = t.chains.iter().collect();
            chains.sort_by(|a, b| a.name.cmp(&b.name));
            for c in &chains {
                write_chain(f, t, c)?;
            }
        }
        for t in &self.tables {
            let mut sets: Vec<&Set> = t.sets.iter().collect();
            sets.sort_by(|a, b| a.name.cmp(&b.name));
            for s in sets {
                write_set(f, t, s)?;
            }
            let mut maps: Vec<&Map> = t.maps.iter().collect();
            maps.sort_by(|a, b| a.name.cmp(&b.name));
            for m in maps {
                write_map(f, t, m)?;
            }
            let mut counters: Vec<&Counter> = t.counters.iter().collect();
            counters.sort_by(|a, b| a.name.cmp(&b.name));
            for c in counters {
                writeln!(
                    f,
                    "add counter {} {} {}",
                    t.family.keyword(),
                    t.name,
                    c.name
                )?;
            }
        }
        for t in &self.tables {
            let mut chains: Vec<&Chain> = t.chains.iter().collect();
            chains.sort_by(|a, b| a.name.cmp(&b.name));
            for c in chains {
                for r in &c.rules {
                    writeln!(
                        f,
                        "add rule {} {} {} {}",
                        t.family.keyword(),
                        t.name,
                        c.name,
                        rule_text(t.family, r)
                    )?;
                }
            }
        }
        for t in &self.tables {
            let mut sets: Vec<&Set> = t.sets.iter().collect();
            sets.sort_by(|a, b| a.name.cmp(&b.name));
            for s in sets {
                for e in &s.elements {
                    write_element(f, t, &s.name, e)?;
                }
            }
            let mut maps: Vec<&Map> = t.maps.iter().collect();
            maps.sort_by(|a, b| a.name.cmp(&b.name));
            for m in maps {
                for e in &m.elements {
                    write_element(f, t, &m.name, e)?;
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn write_table_head(f: &mut impl Write, t: &Table) -> fmt::Result {
    write!(f, "add table {} {}", t.family.keyword(), t.name)?;
    if let Some(c) = &t.comment {
        write!(f, " {{ comment {} ; }}", quote(c))?;
    }
    writeln!(f)
}

pub(crate) fn write_chain(f: &mut impl Write, t: &Table, c: &Chain) -> fmt::Result {
    write!(f, "add chain {} {} {}", t.family.keyword(), t.name, c.name)?;
    if c.base.is_some() || c.comment.is_some() {
        f.write_str(" {")?;
        if let Some(b) = &c.base {
            write!(
                f,
                " type {} hook {} priority {} ;",
                match b.type_ {
                    ChainType::Filter => "filter",
                    ChainType::Nat => "nat",
                },
                match b.hook {
                    Hook::Prerouting => "prerouting",
                    Hook::Input => "input",
                    Hook::Forward => "forward",
                    Hook::Output => "output",
                    Hook::Postrouting => "postrouting",
                },
                b.priority
            )?;
        }
        if let Some(cm) = &c.comment {
            write!(f, " comment {} ;", quote(cm))?;
        }
        f.write_str(" }")?;
    }
    writeln!(f)
}

pub(crate) fn write_set(f: &mut impl Write, t: &Table, s: &Set) -> fmt::Result {
    write!(
        f,
        "add set {} {} {} {{ type {} ;",
        t.family.keyword(),
        t.name,
        s.name,
        s.key_type
    )?;
    if !s.flags.is_empty() {
        let flags: Vec<&str> = s
            .flags
            .iter()
            .map(|fl| match fl {
                SetFlag::Dynamic => "dynamic",
                SetFlag::Timeout => "timeout",
            })
            .collect();
        write!(f, " flags {} ;", flags.join(","))?;
    }
    if let Some(secs) = s.timeout {
        write!(f, " timeout {secs}s ;")?;
    }
    if let Some(c) = &s.comment {
        write!(f, " comment {} ;", quote(c))?;
    }
    writeln!(f, " }}")
}

pub(crate) fn write_map(f: &mut impl Write, t: &Table, m: &Map) -> fmt::Result {
    write!(
        f,
        "add map {} {} {} {{ type {} : verdict ;",
        t.family.keyword(),
        t.name,
        m.name,
        m.key_type
    )?;
    if let Some(c) = &m.comment {
        write!(f, " comment {} ;", quote(c))?;
    }
    writeln!(f, " }}")
}

pub(crate) fn write_element(f: &mut impl Write, t: &Table, name: &str, e: &Element) -> fmt::Result {
    write!(
        f,
        "add element {} {} {} {{ {}",
        t.family.keyword(),
        t.name,
        name,
        key_text(&e.key)
    )?;
    if let Some(c) = &e.comment {
        write!(f, " comment {}", quote(c))?;
    }
    if let Some(v) = &e.value {
        write!(f, " : {}", verdict_text(v))?;
    }
    writeln!(f, " }}")
}

/// An element key as nft writes it: parts joined by ` . `.
pub fn key_text(key: &[KeyPart]) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|p| match p {
            KeyPart::Addr(a) => a.to_string(),
            KeyPart::Proto(p) => p.lower().to_string(),
            KeyPart::Port(n) => n.to_string(),
        })
        .collect();
    parts.join(" . ")
}

/// A map value as nft writes it.
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Goto(c) => format!("goto {c}"),
        Verdict::Drop => "drop".into(),
    }
}

/// A rule's text (what follows `add rule FAMILY TABLE CHAIN`), comment included.
pub fn rule_text(family: Family, r: &Rule) -> String {
    let mut out = String::new();
    for (i, e) in r.exprs.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_expr(&mut out, family, e);
    }
    if let Some(c) = &r.comment {
        let _ = write!(out, " comment {}", quote(c));
    }
    out
}

fn write_expr(out: &mut String, family: Family, e: &Expr) {
    let ip = family.keyword();
    let neg = |n: bool| if n { "!= " } else { "" };
    let _ = match e {
        Expr::CtStateNew => write!(out, "ct state new"),
        Expr::CtStatusDnat => write!(out, "ct status dnat"),
        Expr::DaddrInSet(s) => write!(out, "{ip} daddr @{s}"),
        Expr::SaddrInSet(s) => write!(out, "{ip} saddr @{s}"),
        Expr::Daddr { negated, addr } => write!(out, "{ip} daddr {}{addr}", neg(*negated)),
        Expr::Saddr { negated, addr } => write!(out, "{ip} saddr {}{addr}", neg(*negated)),
        Expr::DaddrInCidrs(nets) => {
            let list: Vec<String> = nets.iter().map(Addr::to_string).collect();
            write!(out, "{ip} daddr {{ {} }}", list.join(","))
        }
        Expr::SaddrNotIn(nets) => {
            let list: Vec<String> = nets.iter().map(Addr::to_string).collect();
            write!(out, "{ip} saddr != {{ {} }}", list.join(" , "))
        }
        Expr::FibSaddrLocal => write!(out, "fib saddr type local"),
        Expr::FibDaddrLocal => write!(out, "fib daddr type local"),
        Expr::ConnectionInSet(s) => write!(
            out,
            "{ip} saddr . {ip} daddr . meta l4proto . th dport @{s}"
        ),
        Expr::MarkSet(m) => write!(out, "mark and {m:#x} != 0"),
        Expr::L4Proto(p) => write!(out, "meta l4proto {}", p.lower()),
        Expr::SetMark(m) => write!(out, "mark set mark or {m:#x}"),
        Expr::ClearMark(m) => write!(out, "mark set mark xor {m:#x}"),
        Expr::Masquerade => write!(out, "masquerade fully-random"),
        Expr::UpdateSaddr(s) => write!(out, "update @{s} {{ {ip} saddr }}"),
        Expr::NamedCounter(c) => write!(out, "counter name {}", quote(c)),
        Expr::Vmap { key, map } => match key {
            Lookup::DaddrProtoPort => {
                write!(out, "{ip} daddr . meta l4proto . th dport vmap @{map}")
            }
            Lookup::ProtoPort => write!(out, "meta l4proto . th dport vmap @{map}"),
        },
        Expr::NumgenGoto(chains) => {
            let entries: Vec<String> = chains
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} : goto {c}"))
                .collect();
            write!(
                out,
                "numgen random mod {} vmap {{ {} }}",
                chains.len(),
                entries.join(" , ")
            )
        }
        Expr::DnatTo(sa) => write!(out, "dnat to {sa}"),
        Expr::DnatNumgen(targets) => {
            let entries: Vec<String> = targets
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i} : {} . {}", t.ip(), t.port()))
                .collect();
            write!(
                out,
                "dnat {ip} addr . port to numgen random mod {} map {{ {} }}",
                targets.len(),
                entries.join(" , ")
            )
        }
        Expr::Jump(c) => write!(out, "jump {c}"),
        Expr::Goto(c) => write!(out, "goto {c}"),
        Expr::Drop => write!(out, "drop"),
        Expr::Reject => write!(out, "reject"),
    };
}

/// Quotes a comment or name the way knftables does (Go's `%q`): in double
/// quotes, with `"` and `\` escaped and control characters written as
/// escapes, so nothing in it can end the string early.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
