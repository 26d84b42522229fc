//! The playground's user interface (yew): the manifest editor with line
//! numbers and diagnostic marks, the settings form, the examples menu, one
//! tab per output, the trace panel, share links and copy buttons.
//!
//! Updates are computed by [`crate::compute`]; this module only shows them.
//! Timings (first render after load, keystroke → all outputs) are written
//! to the `#perf` element's data attributes and the console, for people and
//! for the browser test.

use crate::compute::{self, Diag, Output, Outputs, Traced};
use crate::settings::FormSettings;
use crate::share::{self, State, TraceForm};
use crate::text;
use gloo_timers::callback::Timeout;
use libsvc::Severity;
use libsvc::render::Mode;
use std::collections::HashSet;
use std::rc::Rc;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

/// The editor's line height in CSS pixels (kept equal to `--line` in the CSS).
const LINE_HEIGHT: f64 = 18.0;
/// Updates faster than this (ms) run on every keystroke; slower ones are debounced.
const FAST_MS: f64 = 12.0;

/// An output tab: every mode libsvc knows, then the table, the effective
/// settings and the diagnostics. New modes appear here by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// A mode's rendered output.
    Mode(Mode),
    /// The service table (JSON).
    Table,
    /// The effective settings (YAML).
    Settings,
    /// Every diagnostic.
    Diagnostics,
}

impl Tab {
    /// Every tab, in order.
    pub fn all() -> Vec<Tab> {
        let mut v: Vec<Tab> = Mode::ALL.into_iter().map(Tab::Mode).collect();
        v.extend([Tab::Table, Tab::Settings, Tab::Diagnostics]);
        v
    }

    /// The tab's name in ids and share links.
    pub fn id(&self) -> &'static str {
        match self {
            Tab::Mode(m) => m.name(),
            Tab::Table => "table",
            Tab::Settings => "settings",
            Tab::Diagnostics => "diagnostics",
        }
    }

    /// Reads [`Tab::id`].
    pub fn parse(s: &str) -> Option<Tab> {
        Tab::all().into_iter().find(|t| t.id() == s)
    }

    fn label(&self) -> &'static str {
        match self {
            Tab::Mode(Mode::Resolv) => "resolv.conf",
            Tab::Mode(m) => m.name(),
            Tab::Table => "table (json)",
            Tab::Settings => "settings (yaml)",
            Tab::Diagnostics => "diagnostics",
        }
    }
}

/// A settings form field: where its text lives.
type Field = fn(&mut FormSettings) -> &mut String;
/// A trace form field.
type TraceField = fn(&mut TraceForm) -> &mut String;

/// What the page does.
pub enum Msg {
    /// The editor's text changed (text, the input event's timestamp).
    Edit(String, f64),
    /// The debounce ran out: recompute.
    Update,
    /// An example was picked from the menu.
    Example(usize),
    /// A settings field changed.
    Setting(Field, String),
    /// The "iptables jumps" box changed.
    WithJumps(bool),
    /// A tab was picked.
    Tab(Tab),
    /// Show the output as text or as its JSON model.
    ShowJson(bool),
    /// Move the editor's cursor to a diagnostic (its index).
    Goto(usize),
    /// A trace field changed.
    TraceSet(TraceField, String),
    /// Run the trace.
    Trace,
    /// Copy a text; the key says which button shows "copied".
    Copy(String, &'static str),
    /// Copy the share link (the state as it is now).
    CopyLink,
    /// Clear the "copied" mark.
    Copied,
    /// Write the state into the URL fragment.
    Save,
}

/// Timings of the page (milliseconds).
#[derive(Default)]
struct Perf {
    /// When the first keystroke of the pending update happened.
    keystroke_at: Option<f64>,
    /// When the running update started.
    update_at: Option<f64>,
    /// The last update's compute time (load + every render).
    compute_ms: f64,
}

/// The playground.
pub struct App {
    manifests: String,
    settings: FormSettings,
    tab: Tab,
    trace_form: TraceForm,
    /// The newest update.
    outputs: Rc<Outputs>,
    /// The newest update whose input could be read: shown while the
    /// manifests do not parse, so a half-typed line does not blank the page.
    shown: Rc<Outputs>,
    traced: Option<Traced>,
    show_json: bool,
    example: usize,
    share_error: Option<String>,
    copied: Option<&'static str>,
    pending: Option<Timeout>,
    copied_timer: Option<Timeout>,
    save_timer: Option<Timeout>,
    perf: Perf,
    editor: NodeRef,
    gutter: NodeRef,
    perf_el: NodeRef,
    cursor_el: NodeRef,
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

fn log(s: &str) {
    web_sys::console::log_1(&s.into());
}

/// The share link's fragment, from the page's URL.
fn fragment_state() -> Option<Result<State, String>> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let enc = hash.strip_prefix("#s=")?;
    Some(share::decode(enc))
}

impl App {
    fn state(&self) -> State {
        State {
            manifests: self.manifests.clone(),
            settings: self.settings.clone(),
            tab: self.tab.id().to_string(),
            trace: self.trace_form.clone(),
        }
    }

    /// Writes the state into the URL fragment (no history entry).
    fn save_fragment(&self) {
        let url = format!("#s={}", share::encode(&self.state()));
        if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }

    fn recompute(&mut self) {
        let t0 = now();
        let out = Rc::new(compute::compute(&self.manifests, &self.settings));
        self.perf.compute_ms = now() - t0;
        self.perf.update_at = Some(t0);
        if !out.loaded.has_parse_errors() {
            self.shown = out.clone();
        }
        self.outputs = out;
        if self.traced.is_some() {
            self.traced = Some(compute::trace(&self.shown.loaded, &self.trace_form));
        }
    }

    /// Saves the fragment a little after the last change: browsers throttle
    /// `history.replaceState`, and typing should not pay for it.
    fn save_fragment_later(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self.save_timer = Some(Timeout::new(300, move || link.send_message(Msg::Save)));
    }

    /// Updates now while updates are fast (a few ms: every keystroke shows
    /// at once); debounces when they are slow, so typing never queues up
    /// work. Returns whether the view must render.
    fn schedule(&mut self, ctx: &Context<Self>) -> bool {
        if self.perf.compute_ms < FAST_MS && self.pending.is_none() {
            self.recompute();
            self.save_fragment_later(ctx);
            return true;
        }
        let delay = (self.perf.compute_ms * 3.0).clamp(30.0, 400.0) as u32;
        let link = ctx.link().clone();
        self.pending = Some(Timeout::new(delay, move || link.send_message(Msg::Update)));
        false
    }

    fn show_cursor(&self) {
        let (Some(ed), Some(el)) = (
            self.editor.cast::<HtmlTextAreaElement>(),
            self.cursor_el.cast::<HtmlElement>(),
        ) else {
            return;
        };
        let pos = ed.selection_start().ok().flatten().unwrap_or(0);
        let (line, col) = text::line_col(&ed.value(), pos);
        el.set_text_content(Some(&format!("Ln {line}, Col {col}")));
    }

    fn sync_gutter(&self) {
        if let (Some(ed), Some(g)) = (
            self.editor.cast::<HtmlTextAreaElement>(),
            self.gutter.cast::<HtmlElement>(),
        ) {
            g.set_scroll_top(ed.scroll_top());
        }
    }

    fn goto(&self, d: &Diag) {
        let (Some(ed), Some(offset), Some(line)) =
            (self.editor.cast::<HtmlTextAreaElement>(), d.offset, d.line)
        else {
            return;
        };
        let _ = ed.focus();
        let _ = ed.set_selection_range(offset, offset);
        let top = (f64::from(line) - 1.0) * LINE_HEIGHT - f64::from(ed.client_height()) / 3.0;
        ed.set_scroll_top(top.max(0.0) as i32);
        self.sync_gutter();
        self.show_cursor();
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(_ctx: &Context<Self>) -> Self {
        let (state, share_error) = match fragment_state() {
            Some(Ok(s)) => (s, None),
            Some(Err(e)) => (State::default(), Some(e)),
            None => (State::default(), None),
        };
        let fresh = state.manifests.is_empty() && state.tab.is_empty();
        let manifests = if fresh {
            crate::examples::STARTER.to_string()
        } else {
            state.manifests
        };
        let t0 = now();
        let outputs = Rc::new(compute::compute(&manifests, &state.settings));
        let compute_ms = now() - t0;
        let trace_form = if fresh {
            TraceForm::default()
        } else {
            state.trace
        };
        App {
            manifests,
            settings: state.settings,
            tab: Tab::parse(&state.tab).unwrap_or(Tab::Mode(Mode::Iptables)),
            trace_form,
            shown: outputs.clone(),
            outputs,
            traced: None,
            show_json: false,
            example: 0,
            share_error,
            copied: None,
            pending: None,
            copied_timer: None,
            save_timer: None,
            perf: Perf {
                update_at: Some(t0),
                compute_ms,
                ..Perf::default()
            },
            editor: NodeRef::default(),
            gutter: NodeRef::default(),
            perf_el: NodeRef::default(),
            cursor_el: NodeRef::default(),
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Edit(text, at) => {
                self.manifests = text;
                self.perf.keystroke_at.get_or_insert(at);
                let render = self.schedule(ctx);
                self.show_cursor();
                render
            }
            Msg::Update => {
                self.pending = None;
                self.recompute();
                self.save_fragment_later(ctx);
                true
            }
            Msg::Save => {
                self.save_timer = None;
                self.save_fragment();
                false
            }
            Msg::Example(i) => {
                let list = crate::examples::all();
                let Some((_, text)) = list.get(i) else {
                    return false;
                };
                self.example = i;
                self.manifests = text.to_string();
                self.recompute();
                self.save_fragment();
                true
            }
            Msg::Setting(field, value) => {
                *field(&mut self.settings) = value;
                self.schedule(ctx)
            }
            Msg::WithJumps(v) => {
                self.settings.with_jumps = v;
                self.recompute();
                self.save_fragment();
                true
            }
            Msg::Tab(t) => {
                self.tab = t;
                self.save_fragment();
                true
            }
            Msg::ShowJson(v) => {
                self.show_json = v;
                true
            }
            Msg::Goto(i) => {
                if let Some(d) = self.outputs.diagnostics.get(i) {
                    self.goto(d);
                }
                false
            }
            Msg::TraceSet(field, value) => {
                *field(&mut self.trace_form) = value;
                self.save_fragment_later(ctx);
                false
            }
            Msg::Trace => {
                self.traced = Some(compute::trace(&self.shown.loaded, &self.trace_form));
                self.save_fragment();
                true
            }
            Msg::Copy(text, key) => {
                if let Some(w) = web_sys::window() {
                    // A refused write (no permission, no secure context) is
                    // not an error of the page: swallow the rejection.
                    let refused =
                        wasm_bindgen::closure::Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(
                            |_: wasm_bindgen::JsValue| {},
                        );
                    let _ = w.navigator().clipboard().write_text(&text).catch(&refused);
                    refused.forget();
                }
                self.copied = Some(key);
                let link = ctx.link().clone();
                self.copied_timer =
                    Some(Timeout::new(1500, move || link.send_message(Msg::Copied)));
                true
            }
            Msg::CopyLink => {
                self.save_fragment();
                let href = web_sys::window()
                    .and_then(|w| w.location().href().ok())
                    .unwrap_or_default();
                Component::update(self, ctx, Msg::Copy(href, "link"))
            }
            Msg::Copied => {
                self.copied = None;
                true
            }
        }
    }

    fn rendered(&mut self, _ctx: &Context<Self>, first_render: bool) {
        let Some(started) = self.perf.update_at.take() else {
            return;
        };
        let done = now();
        let Some(el) = self.perf_el.cast::<HtmlElement>() else {
            return;
        };
        let set = |k: &str, v: String| {
            let _ = el.set_attribute(k, &v);
        };
        let compute_ms = self.perf.compute_ms;
        let update_ms = done - started;
        set("data-compute-ms", format!("{compute_ms:.2}"));
        set("data-update-ms", format!("{update_ms:.2}"));
        let updates = el
            .get_attribute("data-updates")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        set("data-updates", (updates + 1).to_string());
        let mut shown = format!("updated in {update_ms:.1} ms");
        if first_render {
            set("data-first-render-ms", format!("{done:.1}"));
            log(&format!(
                "svcgen: first render {done:.1} ms after navigation start (compute {compute_ms:.2} ms)"
            ));
            shown = format!("first render {done:.0} ms after load");
            self.sync_gutter();
        }
        if let Some(k) = self.perf.keystroke_at.take() {
            let key_ms = done - k;
            set("data-keystroke-ms", format!("{key_ms:.2}"));
            log(&format!(
                "svcgen: keystroke -> all outputs {key_ms:.2} ms (compute {compute_ms:.2} ms, update {update_ms:.2} ms)"
            ));
            shown = format!("keystroke → all outputs {key_ms:.1} ms");
        }
        el.set_text_content(Some(&shown));
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        html! {
            <div class="page">
                { self.view_header(ctx) }
                if let Some(e) = &self.share_error {
                    <div class="banner error">{ format!("The share link could not be read ({e}); showing the starter.") }</div>
                }
                <main class="columns">
                    <section class="left">
                        { self.view_editor(ctx) }
                        { self.view_problems(ctx, "problems", 8) }
                        { self.view_settings(ctx) }
                    </section>
                    <section class="right">
                        <nav class="tabs" role="tablist">
                            { for Tab::all().into_iter().map(|t| {
                                let active = t == self.tab;
                                html! {
                                    <button id={format!("tab-{}", t.id())} role="tab"
                                        class={classes!("tab", active.then_some("active"))}
                                        aria-selected={active.to_string()}
                                        onclick={link.callback(move |_| Msg::Tab(t))}>
                                        { t.label() }{ self.badge(t) }
                                    </button>
                                }
                            }) }
                        </nav>
                        { self.view_output(ctx) }
                        { self.view_trace(ctx) }
                    </section>
                </main>
            </div>
        }
    }
}

impl App {
    fn view_header(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let examples = crate::examples::all();
        let on_example = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Example(s.value().parse().unwrap_or(0))
        });
        let share = link.callback(|_| Msg::CopyLink);
        html! {
            <header class="top">
                <h1>{"svcgen "}<span class="sub">{"playground"}</span></h1>
                <label class="examples">{"Example "}
                    <select id="examples" onchange={on_example}>
                        { for examples.iter().enumerate().map(|(i, (name, _))| html! {
                            <option value={i.to_string()} selected={i == self.example}>{ *name }</option>
                        }) }
                    </select>
                </label>
                <button id="share" class="btn" onclick={share}>
                    { if self.copied == Some("link") { "Link copied" } else { "Copy share link" } }
                </button>
                <span class="spacer"></span>
                <span id="perf" class="perf" ref={self.perf_el.clone()}></span>
            </header>
        }
    }

    fn view_editor(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let lines = self.manifests.split('\n').count();
        let mut numbers = String::with_capacity(lines * 4);
        for i in 1..=lines {
            numbers.push_str(&i.to_string());
            numbers.push('\n');
        }
        // One mark per line with a diagnostic, the worst severity winning.
        let mut marks: Vec<(u32, Severity, String)> = Vec::new();
        for d in &self.outputs.diagnostics {
            let Some(line) = d.line else { continue };
            match marks.iter_mut().find(|m| m.0 == line) {
                Some(m) if d.severity < m.1 => *m = (line, d.severity, d.message.clone()),
                Some(_) => {}
                None => marks.push((line, d.severity, d.message.clone())),
            }
        }
        let oninput = link.callback(|e: InputEvent| {
            let t: HtmlTextAreaElement = e.target_unchecked_into();
            Msg::Edit(t.value(), e.time_stamp())
        });
        let editor = self.editor.clone();
        let gutter = self.gutter.clone();
        let onscroll = Callback::from(move |_: Event| {
            if let (Some(ed), Some(g)) =
                (editor.cast::<HtmlElement>(), gutter.cast::<HtmlElement>())
            {
                g.set_scroll_top(ed.scroll_top());
            }
        });
        let (editor2, cursor) = (self.editor.clone(), self.cursor_el.clone());
        let on_caret = Callback::from(move |_: MouseEvent| show_caret(&editor2, &cursor));
        let (editor3, cursor3) = (self.editor.clone(), self.cursor_el.clone());
        let on_key = Callback::from(move |_: KeyboardEvent| show_caret(&editor3, &cursor3));
        html! {
            <div class="panel editor-panel">
                <div class="panel-head">
                    <span class="title">{"Manifests"}</span>
                    <span class="hint">{"YAML or JSON; Node and KubeProxyConfiguration objects set the node and proxy"}</span>
                    <span class="spacer"></span>
                    <span id="cursor" class="cursor" ref={self.cursor_el.clone()}>{"Ln 1, Col 1"}</span>
                </div>
                <div class="editor">
                    <div class="gutter" ref={self.gutter.clone()} aria-hidden="true">
                        <pre>{ numbers }</pre>
                        { for marks.into_iter().map(|(line, sev, msg)| html! {
                            <div class={classes!("mark", sev.to_string())} title={msg}
                                style={format!("top: calc(var(--pad) + {}px)", f64::from(line.saturating_sub(1)) * LINE_HEIGHT)}></div>
                        }) }
                    </div>
                    <textarea id="editor" ref={self.editor.clone()} spellcheck="false" wrap="off"
                        autocomplete="off" aria-label="Manifests"
                        value={self.manifests.clone()} {oninput} {onscroll} onclick={on_caret} onkeyup={on_key} />
                </div>
            </div>
        }
    }

    fn view_problems(&self, ctx: &Context<Self>, id: &'static str, limit: usize) -> Html {
        let link = ctx.link();
        let diags = &self.outputs.diagnostics;
        let (errors, warnings) = (
            self.outputs.count(Severity::Error),
            self.outputs.count(Severity::Warning),
        );
        let summary = if diags.is_empty() {
            "No problems".to_string()
        } else {
            format!(
                "{errors} error(s), {warnings} warning(s), {} note(s)",
                diags.len() - errors - warnings
            )
        };
        html! {
            <div class="panel problems" id={id}>
                <div class="panel-head"><span class="title">{ summary }</span>
                    if self.outputs.loaded.has_parse_errors() {
                        <span class="hint stale">{"outputs show the last input that could be read"}</span>
                    }
                </div>
                <ul class="diags">
                    { for diags.iter().enumerate().take(limit).map(|(i, d)| {
                        let loc = match (d.line, d.column) {
                            (Some(l), Some(c)) => html! {
                                <button class="loc" title="Move the cursor here"
                                    onclick={link.callback(move |_| Msg::Goto(i))}>{ format!("{l}:{c}") }</button>
                            },
                            _ => html! { <span class="loc none">{ d.source.clone() }</span> },
                        };
                        html! {
                            <li class={classes!("diag", d.severity.to_string())}>
                                { loc }
                                <span class="sev">{ d.severity.to_string() }</span>
                                <span class="msg">{ d.message.clone() }</span>
                                if let Some(o) = &d.object { <span class="obj">{ o.clone() }</span> }
                            </li>
                        }
                    }) }
                    if diags.len() > limit {
                        <li class="more"><button class="link" onclick={link.callback(|_| Msg::Tab(Tab::Diagnostics))}>
                            { format!("… {} more in the diagnostics tab", diags.len() - limit) }</button></li>
                    }
                </ul>
            </div>
        }
    }

    fn view_settings(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let eff = &self.shown.loaded.settings;
        let field = |label: &'static str,
                     id: &'static str,
                     f: Field,
                     value: &str,
                     placeholder: String| {
            let oninput = link.callback(move |e: InputEvent| {
                let i: HtmlInputElement = e.target_unchecked_into();
                Msg::Setting(f, i.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <input id={format!("set-{id}")} type="text" spellcheck="false" value={value.to_string()}
                        {placeholder} {oninput} />
                </label>
            }
        };
        let join = |v: Vec<String>| v.join(", ");
        let s = &self.settings;
        let on_family = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Setting(|f| &mut f.ip_family, s.value())
        });
        let on_jumps = link.callback(|e: Event| {
            let i: HtmlInputElement = e.target_unchecked_into();
            Msg::WithJumps(i.checked())
        });
        html! {
            <details class="panel settings" open=true>
                <summary class="panel-head"><span class="title">{"Node, proxy and cluster settings"}</span>
                    <span class="hint">{"empty: from the manifests, else Kubernetes' default"}</span></summary>
                <div class="grid">
                    { field("Node name", "nodeName", |f| &mut f.node_name, &s.node_name, eff.node.name.clone()) }
                    { field("Node IPs", "nodeIPs", |f| &mut f.node_ips, &s.node_ips,
                        join(eff.node.ips.iter().map(|i| i.to_string()).collect())) }
                    { field("clusterCIDR (pods)", "clusterCIDR", |f| &mut f.cluster_cidr, &s.cluster_cidr,
                        join(eff.proxy.cluster_cidrs.iter().map(|i| i.to_string()).collect())) }
                    { field("Service CIDR", "serviceCIDR", |f| &mut f.service_cidr, &s.service_cidr,
                        join(eff.cluster.service_cidrs.iter().map(|i| i.to_string()).collect())) }
                    { field("Cluster domain", "clusterDomain", |f| &mut f.cluster_domain, &s.cluster_domain,
                        eff.cluster.cluster_domain.clone()) }
                    { field("IPVS scheduler", "ipvsScheduler", |f| &mut f.ipvs_scheduler, &s.ipvs_scheduler,
                        if eff.proxy.ipvs_scheduler.is_empty() { "rr".to_string() } else { eff.proxy.ipvs_scheduler.clone() }) }
                    { field("Pod namespace (env, resolv.conf)", "namespace", |f| &mut f.namespace, &s.namespace,
                        "default".to_string()) }
                    <label class="field"><span>{"IP family"}</span>
                        <select id="set-ipFamily" onchange={on_family}>
                            { for [("", "both (dual-stack)"), ("IPv4", "IPv4"), ("IPv6", "IPv6")].into_iter().map(|(v, l)| html! {
                                <option value={v} selected={s.ip_family == v}>{ l }</option>
                            }) }
                        </select>
                    </label>
                    <label class="field check"><input id="set-withJumps" type="checkbox" checked={s.with_jumps} onchange={on_jumps} />
                        <span>{"iptables: jumps from the built-in chains"}</span></label>
                </div>
            </details>
        }
    }

    fn badge(&self, t: Tab) -> Html {
        match t {
            Tab::Mode(m) => match self.shown.get(m) {
                Some(Output::NotImplemented) => html! { <span class="badge na">{"n/a"}</span> },
                Some(Output::Invalid(_)) => html! { <span class="badge warning">{"!"}</span> },
                _ => html! {},
            },
            Tab::Diagnostics => {
                let e = self.outputs.count(Severity::Error);
                let w = self.outputs.count(Severity::Warning);
                match (e, w) {
                    (0, 0) => html! {},
                    (0, w) => html! { <span class="badge warning">{ w }</span> },
                    (e, _) => html! { <span class="badge error">{ e }</span> },
                }
            }
            _ => html! {},
        }
    }

    /// The rules (chain, rule text) the last trace matched in `mode`'s output.
    fn hits(&self, mode: Mode) -> Vec<(&str, &str)> {
        match &self.traced {
            Some(Traced::Done(_, r)) if Mode::parse(&self.trace_form.mode) == Some(mode) => r
                .path
                .iter()
                .map(|s| (s.chain.as_str(), s.rule.trim()))
                .filter(|(_, r)| !r.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn view_output(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let (text, json, note): (Option<String>, Option<String>, Option<String>) = match self.tab {
            Tab::Mode(m) => match self.shown.get(m) {
                Some(Output::Rendered(r)) => (
                    Some(r.text.clone()),
                    Some(serde_json::to_string_pretty(&r.json).unwrap_or_default()),
                    None,
                ),
                Some(Output::NotImplemented) => (
                    None,
                    None,
                    Some(format!(
                        "The {} output is not available yet in this build of svcgen.",
                        m.name()
                    )),
                ),
                Some(Output::Invalid(e)) => (None, None, Some(e.clone())),
                Some(Output::Blocked) | None => (
                    None,
                    None,
                    Some("The manifests have errors; fix them to see this output.".into()),
                ),
            },
            Tab::Table => (Some(self.shown.table.clone()), None, None),
            Tab::Settings => (Some(self.shown.settings.clone()), None, None),
            Tab::Diagnostics => return self.view_problems(ctx, "diagnostics-list", usize::MAX),
        };
        let shows_json = self.show_json && json.is_some();
        let body = if shows_json { json.clone() } else { text };
        let hits = match self.tab {
            Tab::Mode(m) if !shows_json => self.hits(m),
            _ => Vec::new(),
        };
        let copy = body.clone().unwrap_or_default();
        html! {
            <div class="panel output-panel">
                <div class="panel-head">
                    <span class="title">{ self.tab.label() }</span>
                    if json.is_some() {
                        <span class="toggle">
                            <button id="view-text" class={classes!("btn", "small", (!shows_json).then_some("on"))}
                                onclick={link.callback(|_| Msg::ShowJson(false))}>{"text"}</button>
                            <button id="view-json" class={classes!("btn", "small", shows_json.then_some("on"))}
                                onclick={link.callback(|_| Msg::ShowJson(true))}>{"JSON"}</button>
                        </span>
                    }
                    <span class="spacer"></span>
                    if body.is_some() {
                        <button id="copy-output" class="btn small" onclick={link.callback(move |_| Msg::Copy(copy.clone(), "output"))}>
                            { if self.copied == Some("output") { "Copied" } else { "Copy" } }
                        </button>
                    }
                </div>
                if let Some(n) = note {
                    <div id="output-note" class="note">{ n }</div>
                }
                if let Some(b) = body {
                    <pre id="output" class="output">{ highlight(&b, &hits) }</pre>
                }
            </div>
        }
    }

    fn view_trace(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let f = &self.trace_form;
        let input = |label: &'static str,
                     id: &'static str,
                     get: TraceField,
                     value: &str,
                     size: u32| {
            let oninput = link.callback(move |e: InputEvent| {
                let i: HtmlInputElement = e.target_unchecked_into();
                Msg::TraceSet(get, i.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <input id={format!("trace-{id}")} type="text" spellcheck="false" size={size.to_string()}
                        value={value.to_string()} {oninput} /></label>
            }
        };
        let select = |label: &'static str,
                      id: &'static str,
                      get: TraceField,
                      value: &str,
                      options: Vec<&'static str>| {
            let onchange = link.callback(move |e: Event| {
                let s: HtmlSelectElement = e.target_unchecked_into();
                Msg::TraceSet(get, s.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <select id={format!("trace-{id}")} {onchange}>
                        { for options.into_iter().map(|o| html! { <option value={o} selected={o == value}>{ o }</option> }) }
                    </select></label>
            }
        };
        let onsubmit = link.callback(|e: SubmitEvent| {
            e.prevent_default();
            Msg::Trace
        });
        let result = match &self.traced {
            None => {
                html! { <p class="hint">{"Send the first packet of a new connection through the rules."}</p> }
            }
            Some(Traced::NotImplemented(m)) => html! {
                <p id="trace-result" class="note" data-mode={m.name()}>{ format!("Tracing {} is not available yet in this build of svcgen.", m.name()) }</p>
            },
            Some(Traced::Failed(e)) => {
                html! { <p id="trace-result" class="note error">{ e.clone() }</p> }
            }
            Some(Traced::Done(p, r)) => {
                let verdict = if r.outcome.is_empty() {
                    "passes unchanged".to_string()
                } else {
                    r.outcome.clone()
                };
                let mode = Mode::parse(&f.mode);
                html! {
                    <div id="trace-result" class="trace-result" data-mode={f.mode.clone()}>
                        <p><b>{ format!("{} {} → {}:{}", p.protocol.lower(), p.src, p.dst, p.port) }</b></p>
                        <p>{"verdict: "}<b id="trace-verdict">{ verdict }</b>
                           {" · masquerade: "}<b id="trace-masq">{ if r.masquerade { "yes" } else { "no" } }</b></p>
                        if !r.endpoints.is_empty() {
                            <table class="endpoints"><tr><th>{"endpoint"}</th><th>{"share"}</th></tr>
                                { for r.endpoints.iter().map(|e| html! {
                                    <tr><td>{ e.endpoint.clone() }</td><td>{ format!("{:.1} %", e.probability * 100.0) }</td></tr>
                                }) }
                            </table>
                        }
                        <ol class="path">
                            { for r.path.iter().map(|s| {
                                let to = mode.map(Tab::Mode);
                                html! {
                                    <li><button class="link" title="Show in the output"
                                        onclick={link.callback(move |_| match to { Some(t) => Msg::Tab(t), None => Msg::ShowJson(false) })}>
                                        { format!("{}/{}", s.table, s.chain) }</button>{": "}<code>{ s.rule.clone() }</code></li>
                                }
                            }) }
                        </ol>
                        { for r.notes.iter().map(|n| html! { <p class="hint">{ n.clone() }</p> }) }
                    </div>
                }
            }
        };
        html! {
            <div class="panel trace">
                <div class="panel-head"><span class="title">{"Trace a packet"}</span></div>
                <form class="trace-form" {onsubmit}>
                    { select("Mode", "mode", |t| &mut t.mode, &f.mode, vec!["iptables", "nftables", "ipvs"]) }
                    { input("Source", "src", |t| &mut t.src, &f.src, 14) }
                    { input("Destination", "dst", |t| &mut t.dst, &f.dst, 14) }
                    { input("Port", "port", |t| &mut t.port, &f.port, 5) }
                    { select("Protocol", "proto", |t| &mut t.proto, &f.proto, vec!["tcp", "udp", "sctp"]) }
                    <button id="trace-run" class="btn primary" type="submit">{"Trace"}</button>
                </form>
                { result }
            </div>
        }
    }
}

fn show_caret(editor: &NodeRef, cursor: &NodeRef) {
    let (Some(ed), Some(el)) = (
        editor.cast::<HtmlTextAreaElement>(),
        cursor.cast::<HtmlElement>(),
    ) else {
        return;
    };
    let pos = ed.selection_start().ok().flatten().unwrap_or(0);
    let (line, col) = text::line_col(&ed.value(), pos);
    el.set_text_content(Some(&format!("Ln {line}, Col {col}")));
}

/// The output text, with the lines a trace matched marked: the rule itself,
/// or a line holding both the rule and its chain's name (`nft -f` lines
/// name the chain before the rule). Unmarked runs of lines stay one text
/// node, so large outputs stay cheap.
fn highlight(body: &str, hits: &[(&str, &str)]) -> Html {
    if hits.is_empty() {
        return html! { { body.to_string() } };
    }
    let exact: HashSet<&str> = hits.iter().map(|(_, r)| *r).collect();
    let mut parts: Vec<Html> = Vec::new();
    let mut run = String::new();
    for line in body.split_inclusive('\n') {
        if exact.contains(line.trim())
            || hits
                .iter()
                .any(|(chain, rule)| line.contains(rule) && line.contains(chain))
        {
            if !run.is_empty() {
                parts.push(html! { { std::mem::take(&mut run) } });
            }
            // A block of its own: the highlight spans the line, and the
            // newline it replaces is implied.
            let shown = line.strip_suffix('\n').unwrap_or(line);
            parts.push(html! { <span class="hit">{ shown.to_string() }</span> });
        } else {
            run.push_str(line);
        }
    }
    if !run.is_empty() {
        parts.push(html! { { run } });
    }
    parts.into_iter().collect::<Html>()
}
