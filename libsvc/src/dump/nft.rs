//! `nft list ruleset` text (and `nft -f` files of `add …` commands, the
//! form kube-proxy's knftables and svcgen's render write), and
//! `nft -j list ruleset` JSON (its rules rewritten into the text syntax,
//! then read by the same statement reader).
//!
//! The statement reader knows the expressions of nft(8) that decide a
//! new connection's fate: addresses, ports, protocols, interfaces, marks,
//! conntrack state/status, `fib … type`, set and map lookups with
//! concatenated keys, `numgen`, verdicts, NAT. Any other expression is
//! kept verbatim as opaque, up to the next expression svcgen knows.

use super::model::*;
use super::{Diags, Parsed};
use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
struct Tok {
    text: String,
    line: u32,
    col: u32,
    /// A quoted string.
    quoted: bool,
}

impl Tok {
    fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// Splits nft text: words, quoted strings, and `{ } ; ,` and newline as
/// their own tokens (newline as `\n`). A `:` is a token only standing alone
/// (`k : v`), so `10.0.0.1:80` and IPv6 addresses stay words.
fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ln = n as u32 + 1;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let col = i as u32 + 1;
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if matches!(c, '{' | '}' | ';' | ',') {
                out.push(Tok {
                    text: c.to_string(),
                    line: ln,
                    col,
                    quoted: false,
                });
                i += 1;
                continue;
            }
            if c == '"' {
                let mut s = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok {
                    text: s,
                    line: ln,
                    col,
                    quoted: true,
                });
                continue;
            }
            let mut s = String::new();
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '{' | '}' | ';' | ',' | '"')
            {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Tok {
                text: s,
                line: ln,
                col,
                quoted: false,
            });
        }
        out.push(Tok {
            text: "\n".into(),
            line: ln,
            col: chars.len() as u32 + 1,
            quoted: false,
        });
    }
    out
}

fn family(s: &str) -> Option<Family> {
    Some(match s {
        "ip" => Family::Ip,
        "ip6" => Family::Ip6,
        "inet" => Family::Inet,
        "arp" | "bridge" | "netdev" => Family::Other,
        _ => return None,
    })
}

/// `priority` values: a number, or a standard name ± an offset (nft(8),
/// "STANDARD PRIORITY NAMES").
fn priority(words: &[&str]) -> Option<i32> {
    let base = |w: &str| -> Option<i32> {
        Some(match w {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "filter" => 0,
            "security" => 50,
            "srcnat" => 100,
            n => n.parse().ok()?,
        })
    };
    let mut v = base(words.first()?)?;
    let mut i = 1;
    while i + 1 < words.len() + 1 && i < words.len() {
        let off: i32 = words.get(i + 1)?.parse().ok()?;
        match words[i] {
            "+" => v += off,
            "-" => v -= off,
            _ => return None,
        }
        i += 2;
    }
    Some(v)
}

struct Reader<'a> {
    toks: &'a [Tok],
    tables: Vec<Table>,
    d: Diags,
    file: String,
}

/// Reads `nft list ruleset` text or an `nft -f` file.
pub fn parse(file: &str, text: &str) -> Parsed {
    let toks = tokens(text);
    let mut r = Reader {
        toks: &toks,
        tables: Vec::new(),
        d: Diags::new(file),
        file: file.to_string(),
    };
    r.top();
    undeclared_targets(&r.tables, &mut r.d);
    Parsed {
        tables: r.tables,
        diagnostics: r.d.out,
        ..Default::default()
    }
}

/// A jump or goto to a chain its table does not declare: `nft` refuses
/// such a rule, so a whole ruleset never has one; a listing of one chain
/// (`nft list chain …`) does, so it is a warning, and the trace says where
/// the walk stops.
fn undeclared_targets(tables: &[Table], d: &mut Diags) {
    for t in tables {
        for c in &t.chains {
            for r in &c.rules {
                let mut targets = Vec::new();
                for s in &r.stmts {
                    match s {
                        Stmt::Verdict(Verdict::Jump(x) | Verdict::Goto(x)) => targets.push(x),
                        Stmt::Vmap {
                            map: SetRef::List(l),
                            ..
                        } => targets.extend(l.iter().filter_map(|e| match &e.value {
                            Some(MapValue::Verdict(Verdict::Jump(x) | Verdict::Goto(x))) => Some(x),
                            _ => None,
                        })),
                        _ => {}
                    }
                }
                for x in targets.into_iter().filter(|x| t.chain(x).is_none()) {
                    d.warning(
                        r.pos.line,
                        r.pos.column,
                        format!(
                            "chain {x} is not declared in table {} {}",
                            t.family.as_str(),
                            t.name
                        ),
                    );
                }
            }
        }
    }
}

impl Reader<'_> {
    fn err(&mut self, t: &Tok, msg: impl Into<String>) {
        self.d.error(t.line, t.col, msg);
    }

    fn table_idx(&mut self, fam: Family, name: &str) -> usize {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.family == fam && t.name == name)
        {
            return i;
        }
        self.tables.push(Table {
            origin: Origin::Nft,
            family: fam,
            name: name.to_string(),
            chains: Vec::new(),
            sets: Vec::new(),
            file: self.file.clone(),
        });
        self.tables.len() - 1
    }

    fn chain_idx(&mut self, ti: usize, name: &str, pos: Pos) -> usize {
        let t = &mut self.tables[ti];
        if let Some(i) = t.chains.iter().position(|c| c.name == name) {
            return i;
        }
        t.chains.push(Chain {
            name: name.to_string(),
            base: None,
            rules: Vec::new(),
            pos,
        });
        t.chains.len() - 1
    }

    fn set_idx(&mut self, ti: usize, name: &str) -> usize {
        let t = &mut self.tables[ti];
        if let Some(i) = t.sets.iter().position(|s| s.name == name) {
            return i;
        }
        t.sets.push(Set {
            name: name.to_string(),
            kind: String::new(),
            elements: Vec::new(),
            dims: Vec::new(),
            timeout: None,
        });
        t.sets.len() - 1
    }

    /// The tokens up to the end of the line (or of a `{ … }` group that
    /// spans lines), from `i`; returns the end index.
    fn line_end(&self, mut i: usize) -> usize {
        let mut depth = 0;
        while i < self.toks.len() {
            let t = &self.toks[i];
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            } else if depth == 0 && (t.is("\n") || t.is(";")) {
                return i;
            }
            i += 1;
        }
        i
    }

    fn top(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            let t = self.toks[i].clone();
            if t.is("\n") || t.is(";") {
                i += 1;
                continue;
            }
            let words: Vec<&Tok> = self.toks[i..].iter().take(6).collect();
            let w = |k: usize| words.get(k).map(|t| t.text.as_str()).unwrap_or_default();
            match w(0) {
                "table" => {
                    let Some(fam) = family(w(1)) else {
                        self.err(&t, format!("unknown family {:?}", w(1)));
                        i = self.skip_block(i);
                        continue;
                    };
                    let ti = self.table_idx(fam, w(2));
                    i += 3;
                    if self.toks.get(i).is_some_and(|t| t.is("{")) {
                        i = self.table_body(ti, i + 1);
                    }
                }
                "add" | "create" | "insert" => {
                    let end = self.line_end(i);
                    self.command(i, end);
                    i = end;
                }
                "flush" | "delete" | "destroy" | "list" | "reset" => {
                    if w(1) == "ruleset" {
                        self.tables.clear();
                    } else if w(0) == "flush" && w(1) == "chain" {
                        if let Some(fam) = family(w(2)) {
                            let ti = self.table_idx(fam, w(3));
                            let ci = self.chain_idx(ti, w(4), Pos::default());
                            self.tables[ti].chains[ci].rules.clear();
                        }
                    } else if w(0) == "delete" || w(0) == "destroy" {
                        self.err(
                            &t,
                            format!(
                                "{} is not applied by svcgen; dump the ruleset after it",
                                w(0)
                            ),
                        );
                    }
                    i = self.line_end(i);
                }
                _ => {
                    self.err(
                        &t,
                        format!(
                            "expected `table`, `add`, `insert` or `flush`, found {:?}",
                            t.text
                        ),
                    );
                    i = self.line_end(i) + 1;
                }
            }
        }
    }

    fn skip_block(&self, mut i: usize) -> usize {
        let mut depth = 0;
        while i < self.toks.len() {
            if self.toks[i].is("{") {
                depth += 1;
            } else if self.toks[i].is("}") {
                depth -= 1;
                if depth <= 0 {
                    return i + 1;
                }
            } else if depth == 0 && self.toks[i].is("\n") {
                return i + 1;
            }
            i += 1;
        }
        i
    }

    /// `table … {` body from `i`; returns the index after its `}`.
    fn table_body(&mut self, ti: usize, mut i: usize) -> usize {
        while i < self.toks.len() {
            let t = self.toks[i].clone();
            if t.is("}") {
                return i + 1;
            }
            if t.is("\n") || t.is(";") {
                i += 1;
                continue;
            }
            match t.text.as_str() {
                "chain" => {
                    let name = self
                        .toks
                        .get(i + 1)
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    let pos = Pos {
                        line: t.line,
                        column: t.col,
                    };
                    let ci = self.chain_idx(ti, &name, pos);
                    i += 2;
                    if self.toks.get(i).is_some_and(|t| t.is("{")) {
                        i = self.chain_body(ti, ci, i + 1);
                    }
                }
                "set" | "map" => {
                    let name = self
                        .toks
                        .get(i + 1)
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    let si = self.set_idx(ti, &name);
                    i += 2;
                    if self.toks.get(i).is_some_and(|t| t.is("{")) {
                        i = self.set_body(ti, si, i + 1);
                    }
                }
                _ => {
                    // comment, flags, flowtables, counters…: not on a packet's path
                    if matches!(
                        t.text.as_str(),
                        "flowtable" | "counter" | "quota" | "ct" | "limit" | "secmark" | "synproxy"
                    ) {
                        i = self.skip_block(i);
                    } else {
                        i = self.line_end(i) + 1;
                    }
                }
            }
        }
        i
    }

    /// A `chain … {` body: `type … hook … priority …; policy …;` and rules.
    fn chain_body(&mut self, ti: usize, ci: usize, mut i: usize) -> usize {
        while i < self.toks.len() {
            let t = self.toks[i].clone();
            if t.is("}") {
                return i + 1;
            }
            if t.is("\n") || t.is(";") {
                i += 1;
                continue;
            }
            let end = self.line_end(i);
            match t.text.as_str() {
                "type" => self.base_spec(ti, ci, i, end),
                "policy" => {
                    let accept = self.toks.get(i + 1).is_none_or(|p| p.text != "drop");
                    if let Some(b) = self.tables[ti].chains[ci].base.as_mut() {
                        b.policy_accept = accept;
                    }
                }
                "comment" | "devices" | "device" => {}
                _ => {
                    let rule = self.rule(ti, i, end);
                    self.tables[ti].chains[ci].rules.push(rule);
                }
            }
            i = end;
        }
        i
    }

    fn base_spec(&mut self, ti: usize, ci: usize, i: usize, end: usize) {
        let words: Vec<&str> = self.toks[i..end].iter().map(|t| t.text.as_str()).collect();
        let get = |k: &str| {
            words
                .iter()
                .position(|w| *w == k)
                .and_then(|p| words.get(p + 1))
                .copied()
        };
        let kind = match get("type") {
            Some("nat") => ChainType::Nat,
            Some("route") => ChainType::Route,
            _ => ChainType::Filter,
        };
        let hook = get("hook").and_then(Hook::parse);
        let prio = words
            .iter()
            .position(|w| *w == "priority")
            .and_then(|p| priority(&words[p + 1..]));
        let t = self.toks[i].clone();
        let family = self.tables[ti].family;
        match (hook, prio) {
            (Some(hook), Some(priority)) if family != Family::Other => {
                self.tables[ti].chains[ci].base = Some(Base {
                    kind,
                    hook,
                    priority,
                    policy_accept: true,
                });
            }
            (None, _) if get("hook").is_some() => {
                // ingress/egress hooks of netdev: not on the IP path
            }
            (_, None) => self.err(&t, "base chain without a readable priority"),
            _ => {}
        }
    }

    /// A `set|map … {` body: `type`, `flags`, `elements = { … }`.
    fn set_body(&mut self, ti: usize, si: usize, mut i: usize) -> usize {
        while i < self.toks.len() {
            let t = self.toks[i].clone();
            if t.is("}") {
                return i + 1;
            }
            if t.is("\n") || t.is(";") {
                i += 1;
                continue;
            }
            let end = self.line_end(i);
            match t.text.as_str() {
                "type" | "typeof" => {
                    self.tables[ti].sets[si].kind = self.toks[i + 1..end]
                        .iter()
                        .map(|t| t.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                "timeout" => {
                    let t = self
                        .toks
                        .get(i + 1)
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    match duration(&t) {
                        Some(secs) => self.tables[ti].sets[si].timeout = Some(secs),
                        None => {
                            let at = self.toks[i].clone();
                            self.err(&at, format!("bad timeout {t:?}"));
                        }
                    }
                }
                "elements" => {
                    if let Some(open) = (i..end).find(|&k| self.toks[k].is("{")) {
                        let close = self.matching(open);
                        let elems = self.elements(open + 1, close);
                        self.tables[ti].sets[si].elements.extend(elems);
                    }
                }
                _ => {}
            }
            i = end;
        }
        i
    }

    fn matching(&self, open: usize) -> usize {
        let mut depth = 0;
        for k in open..self.toks.len() {
            if self.toks[k].is("{") {
                depth += 1;
            } else if self.toks[k].is("}") {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
        }
        self.toks.len()
    }

    /// Elements between `{` and `}`: `k . k [comment "…"] [timeout …] [: v]`, comma-separated.
    fn elements(&mut self, from: usize, to: usize) -> Vec<Element> {
        let mut out = Vec::new();
        let mut start = from;
        let toks = self.toks;
        for k in from..=to.min(toks.len()) {
            if k == to || toks[k].is(",") {
                let part: Vec<&Tok> = toks[start..k].iter().filter(|t| !t.is("\n")).collect();
                start = k + 1;
                if part.is_empty() {
                    continue;
                }
                match element(&part) {
                    Some(e) => out.push(e),
                    None => {
                        let t = part[0].clone();
                        self.err(&t, "element svcgen cannot read");
                    }
                }
            }
        }
        out
    }

    /// `add|create|insert table|chain|set|map|rule|element …` from `i` to `end`.
    fn command(&mut self, i: usize, end: usize) {
        let toks = self.toks;
        let w = |k: usize| {
            toks.get(i + k)
                .filter(|_| i + k < end)
                .map(|t| t.text.clone())
                .unwrap_or_default()
        };
        let what = w(1);
        let Some(fam) = family(&w(2)) else {
            let t = toks[i].clone();
            self.err(&t, format!("expected a family after `{} {what}`", w(0)));
            return;
        };
        // nft refuses a command on a table, chain or set not yet declared
        let at = |k: usize| {
            toks.get(i + k)
                .filter(|_| i + k < end)
                .unwrap_or(&toks[i])
                .clone()
        };
        let known = self
            .tables
            .iter()
            .position(|t| t.family == fam && t.name == w(3));
        if what != "table" && known.is_none() {
            self.err(
                &at(3),
                format!("table {} {} is not declared", fam.as_str(), w(3)),
            );
            return;
        }
        let ti = self.table_idx(fam, &w(3));
        let missing = match what.as_str() {
            "rule" => self.tables[ti].chain(&w(4)).is_none().then_some("chain"),
            "element" => self.tables[ti].set(&w(4)).is_none().then_some("set"),
            _ => None,
        };
        if let Some(kind) = missing {
            self.err(
                &at(4),
                format!(
                    "{kind} {} is not declared in table {} {}",
                    w(4),
                    fam.as_str(),
                    w(3)
                ),
            );
            return;
        }
        let pos = Pos {
            line: toks[i].line,
            column: toks[i].col,
        };
        match what.as_str() {
            "table" => {}
            "chain" => {
                let ci = self.chain_idx(ti, &w(4), pos);
                if let Some(open) = (i..end).find(|&k| toks[k].is("{")) {
                    let close = self.matching(open);
                    let mut k = open + 1;
                    while k < close {
                        let e = self.line_end(k).min(close);
                        if toks[k].is("type") {
                            self.base_spec(ti, ci, k, e);
                        } else if toks[k].is("policy") {
                            let accept = toks.get(k + 1).is_none_or(|p| p.text != "drop");
                            if let Some(b) = self.tables[ti].chains[ci].base.as_mut() {
                                b.policy_accept = accept;
                            }
                        }
                        k = e + 1;
                    }
                }
            }
            "set" | "map" => {
                let si = self.set_idx(ti, &w(4));
                if let Some(open) = (i..end).find(|&k| toks[k].is("{")) {
                    let close = self.matching(open);
                    self.set_body(ti, si, open + 1);
                    let _ = close;
                }
            }
            "rule" => {
                let name = w(4);
                let ci = self.chain_idx(ti, &name, pos);
                let mut k = i + 5;
                // `add rule … CHAIN handle N` / `position N`
                while k + 1 < end
                    && matches!(toks[k].text.as_str(), "handle" | "position" | "index")
                {
                    k += 2;
                }
                let mut rule = self.rule(ti, k, end);
                rule.pos = pos;
                let rules = &mut self.tables[ti].chains[ci].rules;
                if w(0) == "insert" {
                    rules.insert(0, rule);
                } else {
                    rules.push(rule);
                }
            }
            "element" => {
                let si = self.set_idx(ti, &w(4));
                if let Some(open) = (i..end).find(|&k| toks[k].is("{")) {
                    let close = self.matching(open);
                    let elems = self.elements(open + 1, close);
                    self.tables[ti].sets[si].elements.extend(elems);
                }
            }
            // stateful objects: counted, never deciding a packet's fate
            "counter" | "quota" | "limit" | "ct" | "secmark" | "synproxy" | "flowtable" => {}
            _ => {
                let t = toks[i].clone();
                self.err(&t, format!("`{} {what}` is not read", w(0)));
            }
        }
    }

    /// A rule from its tokens.
    fn rule(&mut self, _ti: usize, from: usize, to: usize) -> Rule {
        let toks: Vec<Tok> = self.toks[from..to]
            .iter()
            .filter(|t| !t.is("\n"))
            .cloned()
            .collect();
        let text = render(&toks);
        let mut rule = Rule {
            pos: Pos {
                line: self.toks.get(from).map(|t| t.line).unwrap_or(0),
                column: self.toks.get(from).map(|t| t.col).unwrap_or(0),
            },
            text,
            matches: Vec::new(),
            stmts: Vec::new(),
        };
        statements(&toks, &mut rule);
        rule
    }
}

/// Tokens back to text, as nft prints them.
fn render(toks: &[Tok]) -> String {
    let mut s = String::new();
    for (k, t) in toks.iter().enumerate() {
        if k > 0 && !t.is(",") {
            s.push(' ');
        }
        if t.quoted {
            s.push('"');
            s.push_str(&t.text);
            s.push('"');
        } else {
            s.push_str(&t.text);
        }
    }
    s
}

/// An nft time: `10800s`, `3h`, `1d2h30m`, `500ms` (whole seconds kept).
fn duration(s: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit_ms = match c {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1000,
            _ => return None,
        };
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
        any = true;
    }
    if !num.is_empty() {
        total_ms = total_ms.checked_add(num.parse::<u64>().ok()?.checked_mul(1000)?)?;
        any = true;
    }
    any.then_some(total_ms / 1000)
}

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One key part value as written.
fn value(s: &str) -> Value {
    if let Some((a, b)) = s.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
            return Value::Addr(AddrItem::Range(a, b));
        }
        if let (Some(a), Some(b)) = (parse_num(a), parse_num(b)) {
            return Value::Num(a, b);
        }
    }
    if let Ok(n) = s.parse::<IpNet>() {
        return Value::Addr(AddrItem::Net(n));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Value::Addr(AddrItem::Net(IpNet::from(ip)));
    }
    if let Some(n) = parse_num(s) {
        return Value::Num(n, n);
    }
    match s {
        "tcp" | "udp" | "sctp" | "icmp" | "icmpv6" | "udplite" | "esp" | "ah" | "gre" => {
            Value::Proto(s.to_string())
        }
        _ => Value::Name(s.to_string()),
    }
}

/// `a . b [comment "…"] [: verdict|addr . port]`.
fn element(part: &[&Tok]) -> Option<Element> {
    let colon = part.iter().position(|t| t.is(":"));
    let (k, v) = match colon {
        Some(c) => (&part[..c], Some(&part[c + 1..])),
        None => (part, None),
    };
    let mut key = Vec::new();
    let mut skip = 0;
    for (i, t) in k.iter().enumerate() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        // a quoted key is an interface name (`"docker0" : jump …`)
        if t.quoted {
            key.push(Value::Name(t.text.clone()));
            continue;
        }
        match t.text.as_str() {
            "." => {}
            "comment" | "timeout" | "expires" | "counter" => skip = 1,
            "packets" | "bytes" => skip = 1,
            _ if i > 0 && k[i - 1].is("comment") => {}
            s => key.push(value(s)),
        }
    }
    if key.is_empty() {
        return None;
    }
    let value = match v {
        None => None,
        Some(v) => Some(map_value(v)?),
    };
    Some(Element { key, value })
}

fn map_value(v: &[&Tok]) -> Option<MapValue> {
    let w: Vec<&str> = v.iter().map(|t| t.text.as_str()).collect();
    Some(match w.as_slice() {
        ["accept"] => MapValue::Verdict(Verdict::Accept),
        ["drop"] => MapValue::Verdict(Verdict::Drop),
        ["reject", ..] => MapValue::Verdict(Verdict::Reject),
        ["return"] => MapValue::Verdict(Verdict::Return),
        ["continue"] => MapValue::Verdict(Verdict::Continue),
        ["jump", c] => MapValue::Verdict(Verdict::Jump(c.to_string())),
        ["goto", c] => MapValue::Verdict(Verdict::Goto(c.to_string())),
        [a, ".", p] => MapValue::Nat(NatTo {
            addr: Some(a.parse().ok()?),
            port: Some(p.parse().ok()?),
        }),
        [a] => MapValue::Nat(nat_to(a)?),
        _ => return None,
    })
}

/// `A`, `A:P`, `[A6]:P`, `:P`.
fn nat_to(s: &str) -> Option<NatTo> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(NatTo {
            addr: Some(sa.ip()),
            port: Some(sa.port()),
        });
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(NatTo {
            addr: Some(ip),
            port: None,
        });
    }
    if let Some((a, p)) = s.rsplit_once(':') {
        if let (Ok(ip), Ok(port)) = (a.parse::<std::net::Ipv4Addr>(), p.parse::<u16>()) {
            return Some(NatTo {
                addr: Some(IpAddr::V4(ip)),
                port: Some(port),
            });
        }
        if a.is_empty() {
            return Some(NatTo {
                addr: None,
                port: Some(p.parse().ok()?),
            });
        }
    }
    None
}

/// Words that start an expression svcgen reads.
const STARTS: &[&str] = &[
    "ip",
    "ip6",
    "meta",
    "tcp",
    "udp",
    "sctp",
    "th",
    "iifname",
    "oifname",
    "ct",
    "fib",
    "mark",
    "numgen",
    "dnat",
    "snat",
    "masquerade",
    "accept",
    "drop",
    "reject",
    "return",
    "continue",
    "jump",
    "goto",
    "counter",
    "log",
    "comment",
    "update",
    "add",
    "l4proto",
];

/// A key expression at `i`: `ip daddr`, `meta l4proto`, `th dport`, …
fn key_at(t: &[Tok], i: usize) -> Option<(Key, usize)> {
    let a = t.get(i)?.text.as_str();
    let b = t.get(i + 1).map(|x| x.text.as_str()).unwrap_or_default();
    Some(match (a, b) {
        ("ip" | "ip6", "saddr") => (Key::Saddr, 2),
        ("ip" | "ip6", "daddr") => (Key::Daddr, 2),
        ("meta", "l4proto") | ("ip", "protocol") | ("ip6", "nexthdr") => (Key::L4proto, 2),
        ("th" | "tcp" | "udp" | "sctp", "dport") => (Key::Dport, 2),
        ("th" | "tcp" | "udp" | "sctp", "sport") => (Key::Sport, 2),
        ("iifname", _) | ("meta", "iifname") => (Key::Iifname, if a == "meta" { 2 } else { 1 }),
        ("oifname", _) | ("meta", "oifname") => (Key::Oifname, if a == "meta" { 2 } else { 1 }),
        _ => return None,
    })
}

/// The right-hand side at `i`: `@set`, `{ … }`, or one value (or a
/// comma list as `ct state a,b` writes it). Returns the set and the next index.
fn rhs(t: &[Tok], mut i: usize) -> Option<(SetRef<Element>, usize)> {
    let first = t.get(i)?;
    if let Some(name) = first.text.strip_prefix('@') {
        return Some((SetRef::Named(name.to_string()), i + 1));
    }
    if first.is("{") {
        let close = (i..t.len()).find(|&k| t[k].is("}"))?;
        let mut elems = Vec::new();
        let mut start = i + 1;
        for k in i + 1..=close {
            if k == close || t[k].is(",") {
                let part: Vec<&Tok> = t[start..k].iter().collect();
                start = k + 1;
                if !part.is_empty() {
                    elems.push(element(&part)?);
                }
            }
        }
        return Some((SetRef::List(elems), close + 1));
    }
    let mut elems = Vec::new();
    loop {
        let mut parts: Vec<&Tok> = vec![t.get(i)?];
        i += 1;
        while t.get(i).is_some_and(|x| x.is(".")) && t.get(i + 1).is_some() {
            parts.push(&t[i]);
            parts.push(&t[i + 1]);
            i += 2;
        }
        elems.push(element(&parts)?);
        if t.get(i).is_some_and(|x| x.is(",")) {
            i += 1;
        } else {
            break;
        }
    }
    Some((SetRef::List(elems), i))
}

fn addr_set(set: SetRef<Element>) -> Option<SetRef<AddrItem>> {
    Some(match set {
        SetRef::Named(n) => SetRef::Named(n),
        SetRef::List(l) => SetRef::List(
            l.into_iter()
                .map(|e| match e.key.as_slice() {
                    [Value::Addr(a)] => Some(a.clone()),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
    })
}

fn port_set(set: SetRef<Element>) -> Option<SetRef<(u16, u16)>> {
    Some(match set {
        SetRef::Named(n) => SetRef::Named(n),
        SetRef::List(l) => SetRef::List(
            l.into_iter()
                .map(|e| match e.key.as_slice() {
                    [Value::Num(a, b)] => Some((u16::try_from(*a).ok()?, u16::try_from(*b).ok()?)),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
    })
}

fn words(set: &SetRef<Element>) -> Option<Vec<String>> {
    match set {
        SetRef::Named(_) => None,
        SetRef::List(l) => l
            .iter()
            .map(|e| match e.key.as_slice() {
                [Value::Name(n)] | [Value::Proto(n)] => Some(n.clone()),
                [Value::Num(a, b)] if a == b => Some(a.to_string()),
                _ => None,
            })
            .collect(),
    }
}

/// Reads the expressions of a rule; what it cannot read becomes opaque up
/// to the next expression it knows.
fn statements(t: &[Tok], rule: &mut Rule) {
    let mut i = 0;
    while i < t.len() {
        match expr(t, i, rule) {
            Some(next) if next > i => i = next,
            _ => {
                let mut j = i + 1;
                while j < t.len() && (t[j].quoted || !STARTS.contains(&t[j].text.as_str())) {
                    j += 1;
                }
                let text = render(&t[i..j]);
                if rule.stmts.is_empty() {
                    rule.matches.push(Match::Opaque(text));
                } else {
                    rule.stmts.push(Stmt::Opaque(text));
                }
                i = j;
            }
        }
    }
}

/// `==` / `!=` at `i`: (negated, next index).
fn op(t: &[Tok], i: usize) -> (bool, usize) {
    match t.get(i).map(|x| x.text.as_str()) {
        Some("!=") => (true, i + 1),
        Some("==") => (false, i + 1),
        _ => (false, i),
    }
}

/// One expression at `i`, added to `rule`; the next index, or None when
/// it is not one svcgen reads.
fn expr(t: &[Tok], i: usize, rule: &mut Rule) -> Option<usize> {
    let w = |k: usize| {
        t.get(k)
            .filter(|x| !x.quoted)
            .map(|x| x.text.as_str())
            .unwrap_or_default()
    };
    let verdict = |v: Verdict, rule: &mut Rule| rule.stmts.push(Stmt::Verdict(v));
    match w(i) {
        "accept" => verdict(Verdict::Accept, rule),
        "drop" => verdict(Verdict::Drop, rule),
        "return" => verdict(Verdict::Return, rule),
        "continue" => verdict(Verdict::Continue, rule),
        "reject" => {
            verdict(Verdict::Reject, rule);
            if w(i + 1) == "with" {
                return Some(i + 4.min(t.len() - i));
            }
        }
        "jump" | "goto" => {
            let c = t.get(i + 1)?.text.clone();
            verdict(
                if w(i) == "jump" {
                    Verdict::Jump(c)
                } else {
                    Verdict::Goto(c)
                },
                rule,
            );
            return Some(i + 2);
        }
        "comment" => {
            rule.matches
                .push(Match::Comment(t.get(i + 1)?.text.clone()));
            return Some(i + 2);
        }
        "counter" => {
            let mut j = i + 1;
            while matches!(w(j), "packets" | "bytes" | "name") {
                j += 2;
            }
            rule.stmts.push(Stmt::Nop(render(&t[i..j.min(t.len())])));
            return Some(j);
        }
        "log" => {
            let mut j = i + 1;
            while matches!(
                w(j),
                "prefix" | "level" | "group" | "snaplen" | "queue-threshold" | "flags"
            ) {
                j += 2;
            }
            rule.stmts.push(Stmt::Nop(render(&t[i..j.min(t.len())])));
            return Some(j);
        }
        "update" | "add" if w(i + 1).starts_with('@') => {
            // `update @affinity { ip saddr }`: records the source (affinity)
            let close = (i..t.len()).find(|&k| t[k].is("}"))?;
            rule.stmts.push(Stmt::Nop(render(&t[i..=close])));
            return Some(close + 1);
        }
        "masquerade" => {
            let mut j = i + 1;
            let mut random_fully = false;
            while matches!(w(j), "fully-random" | "random" | "persistent" | ",") {
                random_fully |= w(j) == "fully-random";
                j += 1;
            }
            if w(j) == "to" {
                return None;
            }
            rule.stmts.push(Stmt::Masquerade { random_fully });
            return Some(j);
        }
        "dnat" | "snat" => {
            let mut j = i + 1;
            if matches!(w(j), "ip" | "ip6") {
                j += 1;
            }
            // `dnat ip addr . port to numgen …` (nft -f), `dnat ip to numgen …` (nft list)
            let to_at = if w(j) == "addr" && w(j + 1) == "." && w(j + 2) == "port" {
                j + 3
            } else {
                j
            };
            if w(to_at) == "to" && w(to_at + 1) == "numgen" {
                let j = to_at - 3;
                if w(j + 4) == "numgen" && w(j + 5) == "random" && w(j + 6) == "mod" {
                    let n = parse_num(w(j + 7))?;
                    if w(j + 8) != "map" {
                        return None;
                    }
                    let (map, next) = rhs(t, j + 9)?;
                    if w(i) != "dnat" {
                        return None;
                    }
                    rule.stmts.push(Stmt::DnatMap { modulus: n, map });
                    return Some(next);
                }
                return None;
            }
            if w(j) != "to" {
                return None;
            }
            let to = nat_to(w(j + 1))?;
            let mut next = j + 2;
            while matches!(w(next), "fully-random" | "random" | "persistent" | ",") {
                next += 1;
            }
            rule.stmts.push(if w(i) == "dnat" {
                Stmt::Dnat(to)
            } else {
                Stmt::Snat(to)
            });
            return Some(next);
        }
        "numgen" => {
            if w(i + 1) != "random" || w(i + 2) != "mod" {
                return None;
            }
            let n = parse_num(w(i + 3))?;
            let mut j = i + 4;
            if w(j) == "offset" {
                return None;
            }
            if w(j) != "vmap" {
                return None;
            }
            j += 1;
            let (map, next) = rhs(t, j)?;
            rule.stmts.push(Stmt::Vmap {
                key: vec![Key::Numgen],
                modulus: Some(n),
                map,
            });
            return Some(next);
        }
        "mark" | "meta" if w(i) == "mark" || w(i + 1) == "mark" => {
            let j = if w(i) == "meta" { i + 2 } else { i + 1 };
            if w(j) == "set" {
                // mark set mark or|xor|and V  /  mark set V
                let k = j + 1;
                let self_ref = w(k) == "mark" || (w(k) == "meta" && w(k + 1) == "mark");
                if self_ref {
                    let k = if w(k) == "meta" { k + 2 } else { k + 1 };
                    let v = parse_num(w(k + 1))?;
                    let s = match w(k) {
                        "or" | "|" => Stmt::SetMark { value: v, mask: v },
                        "xor" | "^" => Stmt::SetMark { value: v, mask: 0 },
                        "and" | "&" => Stmt::SetMark { value: 0, mask: !v },
                        _ => return None,
                    };
                    rule.stmts.push(s);
                    return Some(k + 2);
                }
                let v = parse_num(w(k))?;
                rule.stmts.push(Stmt::SetMark {
                    value: v,
                    mask: u32::MAX,
                });
                return Some(k + 1);
            }
            // mark [and M] [op] V
            let (mask, j) = if matches!(w(j), "and" | "&") {
                (parse_num(w(j + 1))?, j + 2)
            } else {
                (u32::MAX, j)
            };
            let (negated, j) = op(t, j);
            let v = parse_num(w(j))?;
            rule.matches.push(Match::Mark {
                negated,
                value: v & mask,
                mask,
            });
            return Some(j + 1);
        }
        "ct" if matches!(w(i + 1), "state" | "status") => {
            let (negated, j) = op(t, i + 2);
            let (set, next) = rhs(t, j)?;
            let states = words(&set)?
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect();
            rule.matches.push(Match::CtState { negated, states });
            return Some(next);
        }
        "fib" if matches!(w(i + 1), "saddr" | "daddr") && w(i + 2) == "type" => {
            let (negated, j) = op(t, i + 3);
            let (set, next) = rhs(t, j)?;
            let types = words(&set)?
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect();
            rule.matches.push(Match::AddrType {
                side: if w(i + 1) == "saddr" {
                    Side::Src
                } else {
                    Side::Dst
                },
                negated,
                types,
            });
            return Some(next);
        }
        "tcp" | "udp" | "sctp" if !matches!(w(i + 1), "dport" | "sport") => return None,
        _ => {
            // a key, or a concatenation of keys, then a comparison, a lookup or a vmap
            let mut keys = Vec::new();
            let mut j = i;
            loop {
                let (k, n) = key_at(t, j)?;
                keys.push(k);
                j += n;
                if w(j) == "." {
                    j += 1;
                } else {
                    break;
                }
            }
            if w(j) == "vmap" {
                let (map, next) = rhs(t, j + 1)?;
                rule.stmts.push(Stmt::Vmap {
                    key: keys,
                    modulus: None,
                    map,
                });
                return Some(next);
            }
            let (negated, j) = op(t, j);
            let (set, next) = rhs(t, j)?;
            // `tcp dport` implies the protocol
            if let ("tcp" | "udp" | "sctp", Key::Dport | Key::Sport) = (w(i), keys[0])
                && keys.len() == 1
            {
                rule.matches.push(Match::Proto {
                    negated: false,
                    protos: vec![w(i).to_string()],
                });
            }
            let m = match (keys.as_slice(), &set) {
                ([Key::Saddr | Key::Daddr], _) => Match::Addr {
                    side: if keys[0] == Key::Saddr {
                        Side::Src
                    } else {
                        Side::Dst
                    },
                    negated,
                    set: addr_set(set)?,
                },
                ([Key::Dport | Key::Sport], _) => Match::Port {
                    side: if keys[0] == Key::Sport {
                        Side::Src
                    } else {
                        Side::Dst
                    },
                    negated,
                    set: port_set(set)?,
                },
                ([Key::L4proto], SetRef::List(_)) => Match::Proto {
                    negated,
                    protos: words(&set)?,
                },
                ([Key::Iifname | Key::Oifname], SetRef::List(_)) => Match::Iface {
                    input: keys[0] == Key::Iifname,
                    negated,
                    names: words(&set)?,
                },
                _ => Match::Lookup {
                    negated,
                    key: keys,
                    set,
                },
            };
            rule.matches.push(m);
            return Some(next);
        }
    }
    Some(i + 1)
}

/// Reads `nft -j list ruleset` JSON: tables, chains, sets and maps from
/// their objects; each rule's `expr` list written back as nft text (see
/// `json_expr`) and read like a text rule, so both forms give one model.
pub fn parse_json(file: &str, text: &str) -> Parsed {
    let mut d = Diags::new(file);
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            d.error(e.line() as u32, e.column() as u32, format!("not JSON: {e}"));
            return Parsed {
                diagnostics: d.out,
                ..Default::default()
            };
        }
    };
    let mut lines = String::new();
    // the JSON object each rewritten line comes from
    let mut origin: Vec<usize> = Vec::new();
    let mut scanned = 0;
    let mut note = |lines: &str, object: usize| {
        let added = lines[scanned..].matches('\n').count();
        origin.extend(std::iter::repeat_n(object, added));
        scanned = lines.len();
    };
    for (n, obj) in v["nftables"].as_array().into_iter().flatten().enumerate() {
        // what the object before wrote
        note(&lines, n.wrapping_sub(1));
        let Some((kind, o)) = obj.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
        let (fam, table) = (s("family"), s("table"));
        match kind.as_str() {
            "table" => lines.push_str(&format!("add table {} {}\n", fam, s("name"))),
            "chain" => {
                let base = if o.get("hook").is_some() {
                    format!(
                        " {{ type {} hook {} priority {} ; policy {} ; }}",
                        s("type"),
                        s("hook"),
                        o["prio"].as_i64().unwrap_or(0),
                        o["policy"].as_str().unwrap_or("accept")
                    )
                } else {
                    String::new()
                };
                lines.push_str(&format!("add chain {fam} {table} {}{base}\n", s("name")));
            }
            "set" | "map" => {
                let ty = |t: &serde_json::Value| match t {
                    serde_json::Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(" . "),
                    other => other.as_str().unwrap_or_default().to_string(),
                };
                let mut kind_text = ty(&o["type"]);
                if kind == "map" {
                    kind_text.push_str(&format!(" : {}", ty(&o["map"])));
                }
                if let Some(t) = o["timeout"].as_u64() {
                    kind_text.push_str(&format!(" ; timeout {t}s"));
                }
                lines.push_str(&format!(
                    "add {kind} {fam} {table} {} {{ type {kind_text} ; }}\n",
                    s("name")
                ));
                let elems: Vec<String> = o["elem"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(json_elem)
                    .collect();
                if !elems.is_empty() {
                    lines.push_str(&format!(
                        "add element {fam} {table} {} {{ {} }}\n",
                        s("name"),
                        elems.join(", ")
                    ));
                }
            }
            "rule" => {
                let mut exprs: Vec<String> = o["expr"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(json_expr)
                    .collect();
                // a rule's comment is a property of the rule object in JSON
                if let Some(c) = o["comment"].as_str() {
                    exprs.push(format!("comment \"{}\"", c.replace('"', "")));
                }
                lines.push_str(&format!(
                    "add rule {fam} {table} {} {}\n",
                    s("chain"),
                    exprs.join(" ")
                ));
            }
            _ => {}
        }
    }
    note(
        &lines,
        v["nftables"]
            .as_array()
            .map_or(0, |a| a.len())
            .wrapping_sub(1),
    );
    let mut p = parse(file, &lines);
    // a rewritten line's position becomes its JSON object's
    let starts = json_object_starts(text);
    let at = |line: u32| -> Pos {
        origin
            .get((line as usize).wrapping_sub(1))
            .and_then(|o| starts.get(*o))
            .copied()
            .unwrap_or_default()
    };
    for t in &mut p.tables {
        for c in &mut t.chains {
            c.pos = at(c.pos.line);
            for r in &mut c.rules {
                r.pos = at(r.pos.line);
            }
        }
    }
    for d in &mut p.diagnostics {
        if let Some(l) = &mut d.location {
            let pos = at(l.line);
            l.line = pos.line.max(1);
            l.column = pos.column.max(1);
        }
    }
    p
}

/// Where each object of the `nftables` array starts (line, column), as
/// `nft -j` writes it: `{"nftables": [{…}, {…}]}`.
fn json_object_starts(text: &str) -> Vec<Pos> {
    let (mut line, mut column) = (1u32, 0u32);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut out = Vec::new();
    for ch in text.chars() {
        column += 1;
        if ch == '\n' {
            line += 1;
            column = 0;
        }
        if in_string {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_string = true,
            '{' | '[' => {
                if depth == 2 && ch == '{' {
                    out.push(Pos { line, column });
                }
                depth += 1;
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out
}

/// A JSON value or expression as nft text.
fn json_val(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::String(s) => s.clone(),
        J::Number(n) => n.to_string(),
        J::Bool(b) => b.to_string(),
        J::Array(a) => a.iter().map(json_val).collect::<Vec<_>>().join(" . "),
        J::Object(m) => {
            let Some((k, x)) = m.iter().next() else {
                return String::new();
            };
            match k.as_str() {
                "payload" => format!(
                    "{} {}",
                    x["protocol"].as_str().unwrap_or("th"),
                    x["field"].as_str().unwrap_or_default()
                ),
                "meta" => match x["key"].as_str().unwrap_or_default() {
                    "iifname" | "oifname" => x["key"].as_str().unwrap_or_default().to_string(),
                    "mark" => "mark".into(),
                    key => format!("meta {key}"),
                },
                "ct" => format!("ct {}", x["key"].as_str().unwrap_or_default()),
                "fib" => format!(
                    "fib {} type",
                    x["flags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(x["flags"].as_str().map(|_| &x["flags"]))
                        .filter_map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(" . ")
                ),
                "concat" => x
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(json_val)
                    .collect::<Vec<_>>()
                    .join(" . "),
                "set" => match x {
                    J::Array(a) => format!(
                        "{{ {} }}",
                        a.iter().map(json_elem).collect::<Vec<_>>().join(", ")
                    ),
                    other => format!("{{ {} }}", json_val(other)),
                },
                "prefix" => format!("{}/{}", json_val(&x["addr"]), x["len"]),
                "range" => format!("{}-{}", json_val(&x[0]), json_val(&x[1])),
                "&" => format!("{} and {}", json_val(&x[0]), json_val(&x[1])),
                "|" => format!("{} or {}", json_val(&x[0]), json_val(&x[1])),
                "^" => format!("{} xor {}", json_val(&x[0]), json_val(&x[1])),
                "numgen" => format!(
                    "numgen {} mod {}",
                    x["mode"].as_str().unwrap_or("random"),
                    x["mod"]
                ),
                "map" => format!("{} map {}", json_val(&x["key"]), json_val(&x["data"])),
                "elem" => json_val(&x["val"]),
                "accept" | "drop" | "return" | "continue" => k.clone(),
                "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or_default()),
                _ => format!(
                    "json:{}",
                    serde_json::to_string(v)
                        .unwrap_or_default()
                        .replace(' ', "")
                ),
            }
        }
        J::Null => String::new(),
    }
}

/// A set or map element as nft text.
fn json_elem(e: &serde_json::Value) -> String {
    match e {
        serde_json::Value::Array(kv) if kv.len() == 2 => {
            format!("{} : {}", json_val(&kv[0]), json_val(&kv[1]))
        }
        other => json_val(other),
    }
}

/// A rule expression as nft text; an unknown one as an opaque `json:{…}` word.
fn json_expr(e: &serde_json::Value) -> String {
    let Some((k, x)) = e.as_object().and_then(|m| m.iter().next()) else {
        return String::new();
    };
    fn op(o: &str) -> &str {
        match o {
            "!=" => "!= ",
            "==" | "in" => "",
            other => other,
        }
    }
    match k.as_str() {
        // iptables-nft's `-m comment`: nft -j gives only the extension's
        // name, and a comment matches every packet
        "xt" if x["type"] == "match" && x["name"] == "comment" => String::new(),
        "match" => {
            let left = json_val(&x["left"]);
            let o = x["op"].as_str().unwrap_or("==");
            let right = json_val(&x["right"]);
            let right =
                if right.starts_with('@') || right.starts_with('{') || !x["right"].is_array() {
                    right
                } else {
                    right.replace(" . ", ",")
                };
            // `mark and M != 0` comes as left `&`
            format!("{left} {}{right}", op(o))
        }
        "vmap" => format!("{} vmap {}", json_val(&x["key"]), json_val(&x["data"])),
        "accept" | "drop" | "return" | "continue" => k.clone(),
        "reject" => "reject".into(),
        "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or_default()),
        // a named counter is `{"counter": "NAME"}`
        "counter" => match x.as_str() {
            Some(name) => format!("counter name \"{name}\""),
            None => "counter".into(),
        },
        "log" => "log".into(),
        "comment" => format!("comment \"{}\"", x.as_str().unwrap_or_default()),
        "masquerade" => {
            let fr = serde_json::to_string(&x["flags"])
                .unwrap_or_default()
                .contains("fully-random");
            if fr {
                "masquerade fully-random".into()
            } else {
                "masquerade".into()
            }
        }
        "dnat" | "snat" => {
            let fam = x["family"]
                .as_str()
                .map(|f| format!("{f} "))
                .unwrap_or_default();
            match (&x["addr"], &x["port"]) {
                (serde_json::Value::Object(m), _) if m.contains_key("map") => {
                    format!("{k} {fam}addr . port to {}", json_val(&x["addr"]))
                }
                (a, serde_json::Value::Null) => format!("{k} to {}", json_val(a)),
                (a, p) => {
                    let a = json_val(a);
                    if a.contains(':') {
                        format!("{k} to [{a}]:{p}")
                    } else {
                        format!("{k} to {a}:{p}")
                    }
                }
            }
        }
        "mangle" => format!("{} set {}", json_val(&x["key"]), json_val(&x["value"])),
        "set" if x["op"].as_str().is_some() => format!(
            "{} {} {{ {} }}",
            x["op"].as_str().unwrap_or("update"),
            x["set"].as_str().unwrap_or_default(),
            json_val(&x["elem"])
        ),
        _ => format!(
            "json:{}",
            serde_json::to_string(e)
                .unwrap_or_default()
                .replace(' ', "")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_timeouts() {
        assert_eq!(duration("10800s"), Some(10800));
        assert_eq!(duration("3h"), Some(10800));
        assert_eq!(duration("1d2h30m5s"), Some(95405));
        assert_eq!(duration("1500ms"), Some(1));
        assert_eq!(duration("x"), None);
        let p = parse(
            "d",
            "add table ip t\nadd set ip t a { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }\n",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.tables[0].sets[0].timeout, Some(10800));
    }

    #[test]
    fn reads_list_ruleset() {
        let p = parse(
            "d",
            r#"table ip kube-proxy {
	comment "rules for kube-proxy"
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.1 . tcp . 443 : goto service-X,
			     10.96.0.10 . udp . 53 comment "dns" : goto service-Y }
	}
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
		meta skuid 0 drop
	}
	chain service-X {
		ip daddr 10.96.0.1 tcp dport 443 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 10.244.1.30 . 8080, 1 : 10.244.2.31 . 8080 }
	}
	chain mark-for-masquerade {
	}
}
"#,
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let t = &p.tables[0];
        let m = t.set("service-ips").unwrap();
        assert_eq!(m.elements.len(), 2);
        assert_eq!(
            m.elements[1].value,
            Some(MapValue::Verdict(Verdict::Goto("service-Y".into())))
        );
        let pre = t.chain("nat-prerouting").unwrap();
        assert_eq!(pre.base.as_ref().unwrap().priority, -100);
        let svc = t.chain("services").unwrap();
        assert_eq!(
            svc.rules[2].matches,
            vec![Match::Opaque("meta skuid 0".into())]
        );
        assert_eq!(svc.rules[2].stmts, vec![Stmt::Verdict(Verdict::Drop)]);
        assert!(matches!(
            svc.rules[1].matches[0],
            Match::AddrType {
                side: Side::Dst,
                ..
            }
        ));
        let x = t.chain("service-X").unwrap();
        assert!(matches!(
            x.rules[1].stmts[0],
            Stmt::DnatMap { modulus: 2, .. }
        ));
        assert!(
            !x.rules
                .iter()
                .any(|r| r.matches.iter().any(|m| matches!(m, Match::Opaque(_))))
        );
    }

    /// `nft -j` writes a named counter as `{"counter": "NAME"}`; it reads
    /// as the text form `counter name "NAME"` (found by roundtrip_kernel on
    /// kube-proxy's localhost-nodeport counters).
    #[test]
    fn json_named_counter_is_the_text_form() {
        let text = parse(
            "t",
            "table ip t {\n counter c1 { }\n chain x {\n  counter name \"c1\" reject\n }\n}\n",
        );
        let json = parse_json(
            "j",
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "x"}}, {"rule": {"family": "ip", "table": "t", "chain": "x", "expr": [{"counter": "c1"}, {"reject": {"type": "icmp", "expr": "port-unreachable"}}]}}]}"#,
        );
        assert!(text.diagnostics.is_empty() && json.diagnostics.is_empty());
        let rule = |p: &Parsed| p.tables[0].chain("x").unwrap().rules[0].canonical();
        assert_eq!(rule(&text), rule(&json));
    }
}
