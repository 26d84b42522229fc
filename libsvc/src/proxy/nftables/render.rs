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
                    write!(f, "add rule {} {} {} ", t.family.keyword(), t.name, c.name)?;
                    write_rule(f, t.family, r)?;
                    f.write_char('\n')?;
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
        "add element {} {} {} {{ ",
        t.family.keyword(),
        t.name,
        name
    )?;
    write_key(f, &e.key)?;
    if let Some(c) = &e.comment {
        f.write_str(" comment ")?;
        write_quoted(f, c)?;
    }
    match &e.value {
        Some(Verdict::Goto(c)) => write!(f, " : goto {c}")?,
        Some(Verdict::Drop) => f.write_str(" : drop")?,
        None => {}
    }
    writeln!(f, " }}")
}

/// An element key as nft writes it: parts joined by ` . `.
pub fn key_text(key: &[KeyPart]) -> String {
    let mut out = String::new();
    let _ = write_key(&mut out, key);
    out
}

/// Writes [`key_text`]'s text straight into `out`.
pub fn write_key(out: &mut impl Write, key: &[KeyPart]) -> fmt::Result {
    write_joined(out, key, " . ", |o, _, p| match p {
        KeyPart::Addr(a) => write!(o, "{a}"),
        KeyPart::Proto(p) => o.write_str(p.lower()),
        KeyPart::Port(n) => write!(o, "{n}"),
    })
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
    let _ = write_rule(&mut out, family, r);
    out
}

/// Writes a rule's text straight into `out` (no string per rule).
pub fn write_rule(out: &mut impl Write, family: Family, r: &Rule) -> fmt::Result {
    for (i, e) in r.exprs.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        write_expr(out, family, e)?;
    }
    if let Some(c) = &r.comment {
        write!(out, " comment ")?;
        write_quoted(out, c)?;
    }
    Ok(())
}

/// Writes `items` separated by `sep`.
fn write_joined<T>(
    out: &mut impl Write,
    items: &[T],
    sep: &str,
    mut each: impl FnMut(&mut dyn Write, usize, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.write_str(sep)?;
        }
        each(out, i, x)?;
    }
    Ok(())
}

fn write_expr(out: &mut impl Write, family: Family, e: &Expr) -> fmt::Result {
    let ip = family.keyword();
    let neg = |n: bool| if n { "!= " } else { "" };
    match e {
        Expr::CtStateNew => write!(out, "ct state new"),
        Expr::CtStatusDnat => write!(out, "ct status dnat"),
        Expr::DaddrInSet(s) => write!(out, "{ip} daddr @{s}"),
        Expr::SaddrInSet(s) => write!(out, "{ip} saddr @{s}"),
        Expr::Daddr { negated, addr } => write!(out, "{ip} daddr {}{addr}", neg(*negated)),
        Expr::Saddr { negated, addr } => write!(out, "{ip} saddr {}{addr}", neg(*negated)),
        Expr::Iifname { negated, name } => write!(out, "iifname {}{name}", neg(*negated)),
        Expr::Iif { negated, name } => write!(out, "iif {}{name}", neg(*negated)),
        Expr::Dport(p, port) => write!(out, "{} dport {port}", p.lower()),
        Expr::DaddrInCidrs(nets) => {
            write!(out, "{ip} daddr {{ ")?;
            write_joined(out, nets, ",", |o, _, n| write!(o, "{n}"))?;
            out.write_str(" }")
        }
        Expr::SaddrNotIn(nets) => {
            write!(out, "{ip} saddr != {{ ")?;
            write_joined(out, nets, " , ", |o, _, n| write!(o, "{n}"))?;
            out.write_str(" }")
        }
        Expr::FibSaddrLocal => write!(out, "fib saddr type local"),
        Expr::FibDaddrLocal => write!(out, "fib daddr type local"),
        Expr::ConnectionInSet(s) => write!(
            out,
            "{ip} saddr . {ip} daddr . meta l4proto . th dport @{s}"
        ),
        Expr::MarkSet(m) => write!(out, "mark and {m:#x} != 0"),
        Expr::MarkUnset(m) => write!(out, "mark and {m:#x} == 0"),
        Expr::L4Proto(p) => write!(out, "meta l4proto {}", p.lower()),
        Expr::SetMark(m) => write!(out, "mark set mark or {m:#x}"),
        Expr::ClearMark(m) => write!(out, "mark set mark xor {m:#x}"),
        Expr::Masquerade => write!(out, "masquerade fully-random"),
        Expr::UpdateSaddr(s) => write!(out, "update @{s} {{ {ip} saddr }}"),
        Expr::NamedCounter(c) => {
            out.write_str("counter name ")?;
            write_quoted(out, c)
        }
        Expr::Vmap { key, map } => match key {
            Lookup::DaddrProtoPort => {
                write!(out, "{ip} daddr . meta l4proto . th dport vmap @{map}")
            }
            Lookup::ProtoPort => write!(out, "meta l4proto . th dport vmap @{map}"),
        },
        Expr::NumgenGoto(chains) => {
            write!(out, "numgen random mod {} vmap {{ ", chains.len())?;
            write_joined(out, chains, " , ", |o, i, c| write!(o, "{i} : goto {c}"))?;
            out.write_str(" }")
        }
        Expr::DnatTo(sa) => write!(out, "dnat to {sa}"),
        Expr::DnatNumgen(targets) => {
            write!(
                out,
                "dnat {ip} addr . port to numgen random mod {} map {{ ",
                targets.len()
            )?;
            write_joined(out, targets, " , ", |o, i, t| {
                write!(o, "{i} : {} . {}", t.ip(), t.port())
            })?;
            out.write_str(" }")
        }
        Expr::Jump(c) => write!(out, "jump {c}"),
        Expr::Goto(c) => write!(out, "goto {c}"),
        Expr::Return => write!(out, "return"),
        Expr::Drop => write!(out, "drop"),
        Expr::Reject => write!(out, "reject"),
    }
}

/// Quotes a comment or name the way knftables does (Go's `%q`): in double
/// quotes, with `"` and `\` escaped and control characters written as
/// escapes, so nothing in it can end the string early.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let _ = write_quoted(&mut out, s);
    out
}

/// Writes [`quote`]'s text straight into `out`.
pub fn write_quoted(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for ch in s.chars() {
        match ch {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}
