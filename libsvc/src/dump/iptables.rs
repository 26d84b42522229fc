//! `iptables-save` / `ip6tables-save` text (legacy and nf_tables backends;
//! the `iptables-restore` input kube-proxy writes is the same language).
//!
//! The grammar follows iptables' own `iptables-save` writer and
//! `iptables-restore` reader (iptables: `iptables/iptables-save.c`,
//! `iptables/iptables-restore.c`, `xshared.c` `add_param_to_argv` for the
//! quoting): `*table`, `:CHAIN POLICY [p:b]`, `-A`/`-I` rules, `COMMIT`,
//! `#` comments. Matches and targets are read into the generic model;
//! anything else becomes opaque with its text.

use super::model::*;
use super::{Diags, Parsed};
use crate::proxy::iptables::model::Ruleset as KubeRuleset;
use ipnet::IpNet;
use std::net::IpAddr;

/// A token and its 1-based column.
#[derive(Debug, Clone)]
struct Tok {
    text: String,
    col: u32,
    quoted: bool,
}

/// Splits a line as iptables-restore does: whitespace separates, double
/// quotes group, `\"` and `\\` inside quotes are unescaped.
fn tokens(line: &str) -> Result<Vec<Tok>, u32> {
    let mut out = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let col = i as u32 + 1;
        let mut text = String::new();
        let mut quoted = false;
        if c == '"' {
            quoted = true;
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(&(_, n)) = chars.peek()
                            && (n == '"' || n == '\\')
                        {
                            text.push(n);
                            chars.next();
                            continue;
                        }
                        text.push('\\');
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => text.push(c),
                }
            }
            if !closed {
                return Err(col);
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                text.push(c);
                chars.next();
            }
        }
        out.push(Tok { text, col, quoted });
    }
    Ok(out)
}

/// The built-in chains of each table: hook, nft-equivalent priority, type
/// (iptables: `NF_IP_PRI_*` in `include/uapi/linux/netfilter_ipv4.h`).
pub fn builtin(table: &str, chain: &str) -> Option<(Hook, i32, ChainType)> {
    use ChainType::*;
    use Hook::*;
    let hook = Hook::parse(&chain.to_ascii_lowercase())?;
    let (prio, kind) = match (table, hook) {
        ("raw", Prerouting | Output) => (-300, Filter),
        ("mangle", Output) => (-150, Route),
        ("mangle", _) => (-150, Filter),
        ("nat", Prerouting | Output) => (-100, Nat),
        ("nat", Input | Postrouting) => (100, Nat),
        ("filter", Input | Forward | Output) => (0, Filter),
        ("security", Input | Forward | Output) => (50, Filter),
        _ => return None,
    };
    Some((hook, prio, kind))
}

/// Targets that never decide a packet's fate (they log, count, set
/// conntrack options or tweak headers) and fall through to the next rule.
const NON_TERMINAL: &[&str] = &[
    "LOG",
    "NFLOG",
    "ULOG",
    "TRACE",
    "CT",
    "NOTRACK",
    "TCPMSS",
    "CHECKSUM",
    "CLASSIFY",
    "AUDIT",
    "DSCP",
    "TOS",
    "TTL",
    "HL",
    "IDLETIMER",
    "LED",
    "SECMARK",
    "CONNSECMARK",
];

/// Reads `iptables-save` text. `family` is IPv4 unless the text shows IPv6
/// addresses (an `ip6tables-save` dump).
pub fn parse(file: &str, text: &str) -> Parsed {
    let mut d = Diags::new(file);
    let mut tables: Vec<Table> = Vec::new();
    let mut cur: Option<Table> = None;
    let mut six = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        let lead = (line.len() - trimmed.len()) as u32;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('*') {
            if cur.is_some() {
                d.error(
                    line_no,
                    1,
                    "table started before COMMIT of the previous one",
                );
            }
            cur = Some(Table {
                origin: Origin::Iptables,
                family: Family::Ip,
                name: name.trim().to_string(),
                chains: Vec::new(),
                sets: Vec::new(),
                file: file.to_string(),
            });
            continue;
        }
        let Some(t) = cur.as_mut() else {
            d.error(
                line_no,
                lead + 1,
                "line outside a table (expected `*table`)",
            );
            continue;
        };
        if trimmed == "COMMIT" {
            tables.push(cur.take().expect("checked above"));
            continue;
        }
        let toks = match tokens(trimmed) {
            Ok(t) => t,
            Err(col) => {
                d.error(line_no, lead + col, "unterminated quote");
                continue;
            }
        };
        let pos = |col: u32| Pos {
            line: line_no,
            column: lead + col,
        };
        if let Some(decl) = trimmed.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let policy = parts.next().unwrap_or("-");
            let base = builtin(&t.name, &name).map(|(hook, priority, kind)| Base {
                kind,
                hook,
                priority,
                policy_accept: policy != "DROP",
            });
            if t.chain(&name).is_some() {
                d.error(line_no, 2, format!("chain {name} declared twice"));
                continue;
            }
            t.chains.push(Chain {
                name,
                base,
                rules: Vec::new(),
                pos: pos(1),
            });
            continue;
        }
        // `iptables-save -c` puts `[packets:bytes]` first.
        let toks: Vec<Tok> = match toks.first() {
            Some(f) if f.text.starts_with('[') && f.text.ends_with(']') => toks[1..].to_vec(),
            _ => toks,
        };
        let (Some(op), Some(chain)) = (toks.first(), toks.get(1)) else {
            d.error(
                line_no,
                lead + 1,
                "expected -A CHAIN, -I CHAIN, :CHAIN or COMMIT",
            );
            continue;
        };
        let insert = match op.text.as_str() {
            "-A" | "--append" => None,
            "-I" | "--insert" => Some(0usize),
            _ => {
                d.error(
                    line_no,
                    lead + op.col,
                    format!(
                        "unknown command {:?}: expected -A, -I, :CHAIN or COMMIT",
                        op.text
                    ),
                );
                continue;
            }
        };
        let mut rest = &toks[2..];
        let mut insert = insert;
        if insert.is_some()
            && let Some(k) = rest.first().and_then(|t| t.text.parse::<usize>().ok())
        {
            insert = Some(k.saturating_sub(1));
            rest = &rest[1..];
        }
        // built-in chains exist without a declaration (iptables-restore --noflush input)
        if t.chain(&chain.text).is_none()
            && let Some((hook, priority, kind)) = builtin(&t.name, &chain.text)
        {
            t.chains.push(Chain {
                name: chain.text.clone(),
                base: Some(Base {
                    kind,
                    hook,
                    priority,
                    policy_accept: true,
                }),
                rules: Vec::new(),
                pos: pos(chain.col),
            });
        }
        let chains: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
        let Some(ci) = chains.iter().position(|c| *c == chain.text) else {
            d.error(
                line_no,
                lead + chain.col,
                format!("chain {} was not declared in table {}", chain.text, t.name),
            );
            continue;
        };
        let start = rest.first().map(|t| t.col).unwrap_or(chain.col) as usize - 1;
        let text = trimmed.get(start..).unwrap_or_default();
        let text = if rest.is_empty() { "" } else { text };
        let mut rule = Rule {
            pos: pos(op.col),
            text: text.to_string(),
            matches: Vec::new(),
            stmts: Vec::new(),
        };
        rule_options(rest, &chains, &mut rule, &mut six, |col, msg| {
            d.error(line_no, lead + col, msg)
        });
        let rules = &mut t.chains[ci].rules;
        match insert {
            Some(k) => rules.insert(k.min(rules.len()), rule),
            None => rules.push(rule),
        }
    }
    if let Some(t) = cur {
        d.error(
            text.lines().count() as u32,
            1,
            format!("table {} has no COMMIT", t.name),
        );
        tables.push(t);
    }
    if six {
        for t in &mut tables {
            t.family = Family::Ip6;
        }
    }
    Parsed {
        tables,
        diagnostics: d.out,
        ..Default::default()
    }
}

fn num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `V[/M]` (a missing mask is all ones).
fn mark(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((num(v)?, num(m)?)),
        None => Some((num(s)?, u32::MAX)),
    }
}

fn addr_items(s: &str, six: &mut bool) -> Option<Vec<AddrItem>> {
    s.split(',')
        .map(|a| {
            let item = if let Some((x, y)) = a.split_once('-') {
                AddrItem::Range(x.parse().ok()?, y.parse().ok()?)
            } else if let Ok(n) = a.parse::<IpNet>() {
                AddrItem::Net(n)
            } else {
                AddrItem::Net(IpNet::from(a.parse::<IpAddr>().ok()?))
            };
            if let AddrItem::Net(IpNet::V6(_)) | AddrItem::Range(IpAddr::V6(_), _) = item {
                *six = true;
            }
            Some(item)
        })
        .collect()
}

/// `a,b:c` (iptables writes ranges with `:`).
fn ports(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',')
        .map(|p| match p.split_once(':') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let n = p.parse().ok()?;
                Some((n, n))
            }
        })
        .collect()
}

/// `A[:P]` of `--to-destination` / `--to-source` (one address, one port).
fn nat_to(s: &str) -> Option<NatTo> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(NatTo {
            addr: Some(sa.ip()),
            port: Some(sa.port()),
        });
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Some(NatTo {
            addr: Some(ip),
            port: None,
        });
    }
    if let Some(p) = s.strip_prefix(':') {
        return Some(NatTo {
            addr: None,
            port: Some(p.parse().ok()?),
        });
    }
    None
}

/// Is the token the start of a new option group (a general option, a
/// module or the target), ending the previous module's options?
fn general(t: &str) -> bool {
    matches!(
        t,
        "-m" | "--match"
            | "-j"
            | "--jump"
            | "-g"
            | "--goto"
            | "-s"
            | "--source"
            | "--src"
            | "-d"
            | "--destination"
            | "--dst"
            | "-p"
            | "--protocol"
            | "-i"
            | "--in-interface"
            | "-o"
            | "--out-interface"
            | "-f"
            | "--fragment"
    )
}

/// Reads a rule's options into matches and statements.
fn rule_options(
    toks: &[Tok],
    chains: &[String],
    rule: &mut Rule,
    six: &mut bool,
    mut err: impl FnMut(u32, String),
) {
    let mut i = 0;
    // The matches loaded so far (`-m NAME`, and `-p PROTO`'s implicit one).
    let mut loaded: Vec<String> = Vec::new();
    while i < toks.len() {
        let mut negated = false;
        if toks[i].text == "!" && !toks[i].quoted {
            negated = true;
            i += 1;
        }
        let Some(t) = toks.get(i) else { break };
        let arg = toks.get(i + 1);
        let argtext = arg.map(|a| a.text.as_str()).unwrap_or_default();
        let acol = arg.map(|a| a.col).unwrap_or(t.col);
        let mut bad = |what: &str| err(acol, format!("bad {what} {argtext:?} after {}", t.text));
        match t.text.as_str() {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let side = if t.text.starts_with("-s") || t.text.starts_with("--s") {
                    Side::Src
                } else {
                    Side::Dst
                };
                match addr_items(argtext, six) {
                    Some(items) => rule.matches.push(Match::Addr {
                        side,
                        negated,
                        set: SetRef::List(items),
                    }),
                    None => bad("address"),
                }
                i += 2;
            }
            "-p" | "--protocol" => {
                loaded.push(argtext.to_ascii_lowercase());
                rule.matches.push(Match::Proto {
                    negated,
                    protos: vec![argtext.to_ascii_lowercase()],
                });
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                rule.matches.push(Match::Iface {
                    input: t.text.starts_with("-i") || t.text.starts_with("--in"),
                    negated,
                    names: vec![argtext.to_string()],
                });
                i += 2;
            }
            "-m" | "--match" => {
                let end = toks[i + 2.min(toks.len() - i)..]
                    .iter()
                    .position(|t| general(&t.text))
                    .map(|p| p + i + 2)
                    .unwrap_or(toks.len());
                // a `!` just before the next general option belongs to it
                let end = if end > i + 2 && toks[end - 1].text == "!" && end < toks.len() {
                    end - 1
                } else {
                    end
                };
                let end = end.max((i + 2).min(toks.len()));
                module(argtext, &toks[i..end], rule, six, &mut err);
                loaded.push(argtext.to_string());
                i = end;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let end = toks.len();
                target(
                    t.text.starts_with("-g") || t.text == "--goto",
                    &toks[i + 1..end],
                    chains,
                    rule,
                    &mut err,
                );
                i = end;
            }
            _ => {
                // An option after other options: iptables resolves it against
                // every match loaded so far (`-m tcp -p tcp -d X --dport 80`),
                // the protocol of `-p` included.
                let start = if negated { i - 1 } else { i };
                let end = toks[i + 1..]
                    .iter()
                    .position(|t| general(&t.text))
                    .map(|p| p + i + 1)
                    .unwrap_or(toks.len());
                let end = if end > i + 1 && end < toks.len() && toks[end - 1].text == "!" {
                    end - 1
                } else {
                    end
                };
                let mut read = false;
                for m in loaded.iter().rev() {
                    let mut group = vec![
                        Tok {
                            text: "-m".into(),
                            col: t.col,
                            quoted: false,
                        },
                        Tok {
                            text: m.clone(),
                            col: t.col,
                            quoted: false,
                        },
                    ];
                    group.extend_from_slice(&toks[start..end]);
                    let mut tmp = Rule {
                        matches: Vec::new(),
                        stmts: Vec::new(),
                        pos: rule.pos,
                        text: String::new(),
                    };
                    module(m, &group, &mut tmp, six, &mut err);
                    if !tmp.matches.iter().any(|x| matches!(x, Match::Opaque(_))) {
                        rule.matches.extend(tmp.matches);
                        read = true;
                        break;
                    }
                }
                if !read {
                    rule.matches.push(Match::Opaque(join(&toks[start..end])));
                }
                i = end;
            }
        }
    }
}

/// The tokens as iptables-save writes them (quoting what needs it).
fn join(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| {
            if t.quoted || t.text.is_empty() || t.text.contains(char::is_whitespace) {
                format!("\"{}\"", t.text.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                t.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `-m NAME opts…` group (`toks[0]` is `-m`).
fn module(
    name: &str,
    toks: &[Tok],
    rule: &mut Rule,
    six: &mut bool,
    err: &mut impl FnMut(u32, String),
) {
    let opaque = |rule: &mut Rule| rule.matches.push(Match::Opaque(join(toks)));
    let mut out: Vec<Match> = Vec::new();
    let opts = toks.get(2..).unwrap_or_default();
    let mut i = 0;
    let mut ok = true;
    let mut mode: Option<&str> = None;
    let mut prob: Option<f64> = None;
    let (mut every, mut packet) = (None, 0u32);
    let mut recent_name = "DEFAULT".to_string();
    let mut recent_check = None;
    while i < opts.len() {
        let mut negated = false;
        if opts[i].text == "!" {
            negated = true;
            i += 1;
        }
        let Some(o) = opts.get(i) else {
            ok = false;
            break;
        };
        let a = opts.get(i + 1).map(|t| t.text.as_str()).unwrap_or_default();
        let mut used = 2;
        match (name, o.text.as_str()) {
            ("comment", "--comment") => {
                // iptables-restore takes one word; kube-proxy's test dumps
                // leave multi-word comments unquoted, and a bare word here
                // can only be more of the comment, so it is read as such.
                let mut text = a.to_string();
                while let Some(w) = opts.get(i + used) {
                    if w.text.starts_with('-') || w.text == "!" {
                        break;
                    }
                    text.push(' ');
                    text.push_str(&w.text);
                    used += 1;
                }
                out.push(Match::Comment(text))
            }
            ("tcp" | "udp" | "sctp" | "udplite", "--dport" | "--destination-port")
            | ("multiport", "--dports" | "--destination-ports") => match ports(a) {
                Some(p) => out.push(Match::Port {
                    side: Side::Dst,
                    negated,
                    set: SetRef::List(p),
                }),
                None => ok = false,
            },
            ("tcp" | "udp" | "sctp" | "udplite", "--sport" | "--source-port")
            | ("multiport", "--sports" | "--source-ports") => match ports(a) {
                Some(p) => out.push(Match::Port {
                    side: Side::Src,
                    negated,
                    set: SetRef::List(p),
                }),
                None => ok = false,
            },
            ("mark", "--mark") => match mark(a) {
                Some((value, mask)) => out.push(Match::Mark {
                    negated,
                    value: value & mask,
                    mask,
                }),
                None => ok = false,
            },
            ("conntrack", "--ctstate") | ("state", "--state") => out.push(Match::CtState {
                negated,
                states: a.split(',').map(str::to_ascii_uppercase).collect(),
            }),
            ("addrtype", "--src-type" | "--dst-type") => out.push(Match::AddrType {
                side: if o.text == "--src-type" {
                    Side::Src
                } else {
                    Side::Dst
                },
                negated,
                types: a.split(',').map(str::to_ascii_uppercase).collect(),
            }),
            ("set", "--match-set") => {
                let flags = opts.get(i + 2).map(|t| t.text.as_str()).unwrap_or_default();
                let key: Option<Vec<Key>> = flags
                    .split(',')
                    .map(|f| match f {
                        "src" => Some(Key::Saddr),
                        "dst" => Some(Key::Daddr),
                        _ => None,
                    })
                    .collect();
                match key {
                    Some(key) if !key.is_empty() => out.push(Match::Lookup {
                        negated,
                        key,
                        set: SetRef::Named(a.to_string()),
                    }),
                    _ => ok = false,
                }
                used = 3;
            }
            ("statistic", "--mode") => mode = Some(if a == "nth" { "nth" } else { "random" }),
            ("statistic", "--probability") => match a.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => prob = Some(p),
                _ => ok = false,
            },
            ("statistic", "--every") => every = a.parse().ok(),
            ("statistic", "--packet") => packet = a.parse().unwrap_or(0),
            ("recent", "--name") => recent_name = a.to_string(),
            ("recent", "--set") => {
                recent_check = Some(false);
                used = 1;
            }
            ("recent", "--rcheck" | "--update") => {
                recent_check = Some(true);
                used = 1;
            }
            ("recent", "--rsource" | "--reap") => used = 1,
            ("recent", "--seconds" | "--hitcount" | "--mask") => {}
            ("nfacct", "--nfacct-name") => out.push(Match::Comment(format!("nfacct {a}"))),
            _ => ok = false,
        }
        if negated && matches!(name, "comment" | "statistic" | "recent") {
            ok = false;
        }
        i += used;
    }
    if name == "statistic" {
        match (mode, prob, every) {
            (Some("random"), Some(p), _) => out.push(Match::Random(p)),
            (Some("nth"), _, Some(every)) if every > 0 => out.push(Match::Nth { every, packet }),
            _ => ok = false,
        }
    }
    if name == "recent" {
        match recent_check {
            Some(true) => out.push(Match::RecentCheck(recent_name)),
            Some(false) => out.push(Match::RecentSet(recent_name)),
            None => ok = false,
        }
    }
    // `-m tcp` alone (iptables-save writes it before `-p tcp`) tests nothing.
    if ok && (!out.is_empty() || matches!(name, "tcp" | "udp" | "sctp" | "udplite")) {
        rule.matches.extend(out);
    } else {
        let _ = &six;
        let _ = &err;
        opaque(rule);
    }
}

/// `-j TARGET opts…` / `-g CHAIN` (`toks[0]` is the target).
fn target(
    goto: bool,
    toks: &[Tok],
    chains: &[String],
    rule: &mut Rule,
    err: &mut impl FnMut(u32, String),
) {
    let Some(t) = toks.first() else {
        rule.stmts.push(Stmt::Opaque("-j".into()));
        return;
    };
    let name = t.text.as_str();
    let opts = &toks[1..];
    let opt = |k: &str| {
        opts.iter()
            .position(|o| o.text == k)
            .and_then(|p| opts.get(p + 1))
            .map(|o| o.text.as_str())
    };
    let flag = |k: &str| opts.iter().any(|o| o.text == k);
    let opaque = || Stmt::Opaque(format!("{} {}", if goto { "-g" } else { "-j" }, join(toks)));
    let stmt = if chains.iter().any(|c| c == name) {
        Stmt::Verdict(if goto {
            Verdict::Goto(name.into())
        } else {
            Verdict::Jump(name.into())
        })
    } else {
        match name {
            "ACCEPT" => Stmt::Verdict(Verdict::Accept),
            "DROP" => Stmt::Verdict(Verdict::Drop),
            "RETURN" => Stmt::Verdict(Verdict::Return),
            "REJECT" => Stmt::Verdict(Verdict::Reject),
            "DNAT" => match opt("--to-destination").and_then(nat_to) {
                Some(to) => Stmt::Dnat(to),
                None => opaque(),
            },
            "SNAT" => match opt("--to-source").and_then(nat_to) {
                Some(to) => Stmt::Snat(to),
                None => opaque(),
            },
            "MASQUERADE" if opt("--to-ports").is_none() => Stmt::Masquerade {
                random_fully: flag("--random-fully"),
            },
            "MARK" => {
                let m = |k| opt(k).and_then(mark);
                if let Some((v, mk)) = m("--set-xmark") {
                    Stmt::SetMark { value: v, mask: mk }
                } else if let Some((v, mk)) = m("--set-mark") {
                    Stmt::SetMark {
                        value: v,
                        mask: mk | v,
                    }
                } else if let Some((v, _)) = m("--or-mark") {
                    Stmt::SetMark { value: v, mask: v }
                } else if let Some((v, _)) = m("--xor-mark") {
                    Stmt::SetMark { value: v, mask: 0 }
                } else if let Some((v, _)) = m("--and-mark") {
                    Stmt::SetMark { value: 0, mask: !v }
                } else {
                    opaque()
                }
            }
            n if NON_TERMINAL.contains(&n) => Stmt::Nop(join(toks)),
            n if n
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                opaque()
            }
            _ => {
                err(
                    t.col,
                    format!("target {name} is neither a chain of this table nor a known target"),
                );
                opaque()
            }
        }
    };
    rule.stmts.push(stmt);
}

/// kube-proxy's typed iptables ruleset in the generic model: its
/// `iptables-restore` text (with the jumps from the built-in chains) read
/// back, so a dump and a render compare model to model. Lossless: the text
/// is the model's own rendering, and every kube-proxy rule parses without
/// an opaque part (tested by `dump_roundtrip`).
pub fn from_kube(rs: &KubeRuleset) -> Parsed {
    let mut text = String::new();
    for t in &rs.tables {
        text.push_str(&format!("*{}\n", t.name.as_str()));
        for b in ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"] {
            if builtin(t.name.as_str(), b).is_some() {
                text.push_str(&format!(":{b} ACCEPT [0:0]\n"));
            }
        }
        for c in &t.chains {
            text.push_str(&format!(":{} - [0:0]\n", c.name));
        }
        // kube-proxy prepends its jumps (`-I`), so the last one comes first.
        for j in rs.jumps.iter().filter(|j| j.table == t.name) {
            text.push_str(&format!("{j}\n"));
        }
        for c in &t.chains {
            for line in c.rule_lines() {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text.push_str("COMMIT\n");
    }
    let name = match rs.family {
        crate::config::IpFamily::IPv4 => "render:iptables",
        crate::config::IpFamily::IPv6 => "render:ip6tables",
    };
    let mut p = parse(name, &text);
    let fam = match rs.family {
        crate::config::IpFamily::IPv4 => Family::Ip,
        crate::config::IpFamily::IPv6 => Family::Ip6,
    };
    for t in &mut p.tables {
        t.family = fam;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tables_chains_rules() {
        let p = parse(
            "d",
            "# Generated by iptables-nft-save v1.8.9\n*nat\n:PREROUTING ACCEPT [1:2]\n:KUBE-SVC-X - [0:0]\n-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SVC-X\n-A KUBE-SVC-X ! -s 10.0.0.0/8 -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j MARK --set-xmark 0x4000/0x4000\n-A KUBE-SVC-X -m owner --uid-owner 0 -j DNAT --to-destination 10.1.2.3:6443\nCOMMIT\n",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let t = &p.tables[0];
        assert_eq!(t.name, "nat");
        let pre = t.chain("PREROUTING").unwrap();
        assert_eq!(pre.base.as_ref().unwrap().priority, -100);
        assert_eq!(
            pre.rules[0].matches,
            vec![Match::Comment("kubernetes service portals".into())]
        );
        let svc = t.chain("KUBE-SVC-X").unwrap();
        assert_eq!(
            svc.rules[0].stmts,
            vec![Stmt::SetMark {
                value: 0x4000,
                mask: 0x4000
            }]
        );
        assert!(matches!(
            svc.rules[0].matches[0],
            Match::Addr {
                negated: true,
                side: Side::Src,
                ..
            }
        ));
        assert_eq!(
            svc.rules[1].matches,
            vec![Match::Opaque("-m owner --uid-owner 0".into())]
        );
        assert_eq!(svc.rules[1].pos, Pos { line: 7, column: 1 });
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let p = parse(
            "d",
            "*filter\n:INPUT ACCEPT [0:0]\n-A NOPE -j ACCEPT\n-A INPUT -s 1.2.3 -j ACCEPT\nCOMMIT\n",
        );
        let at: Vec<(u32, u32)> = p
            .diagnostics
            .iter()
            .map(|d| {
                let l = d.location.as_ref().unwrap();
                (l.line, l.column)
            })
            .collect();
        assert_eq!(at, vec![(3, 4), (4, 13)]);
    }
}
