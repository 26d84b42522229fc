// The playground's manifest editor: CodeMirror 6 with YAML highlighting,
// line numbers, inline diagnostics (underline + message on hover), Tab to
// indent. Bundled by esbuild into web/dist/editor.js at build time; the yew
// app drives it through `window.svcgenEditor` (see web/src/editor.rs).
import { EditorState, Annotation } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, indentOnInput, bracketMatching, indentUnit } from "@codemirror/language";
import { classHighlighter } from "@lezer/highlight";
import { yaml } from "@codemirror/lang-yaml";
import { setDiagnostics, lintGutter } from "@codemirror/lint";

// Marks changes made by the app (an example, undo) so they are not echoed back.
const fromApp = Annotation.define();
let view = null;

function mount(parent, text, onChange, onCursor) {
  if (view) view.destroy();
  const listener = EditorView.updateListener.of((u) => {
    if (u.docChanged && !u.transactions.some((t) => t.annotation(fromApp))) {
      onChange(u.state.doc.toString(), performance.now());
    }
    if (u.selectionSet || u.docChanged) {
      const head = u.state.selection.main.head;
      const line = u.state.doc.lineAt(head);
      // Columns in characters, as the diagnostics count them.
      onCursor(line.number, Array.from(line.text.slice(0, head - line.from)).length + 1);
    }
  });
  view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(),
        drawSelection(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        indentUnit.of("  "), EditorState.tabSize.of(2),
        yaml(), syntaxHighlighting(classHighlighter), lintGutter(),
        keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap]),
        // tabindex: the scrolling editor is reached by keyboard (axe-core's
        // scrollable-region-focusable does not count contenteditable).
        EditorView.contentAttributes.of({ "aria-label": "Manifests (YAML)", id: "editor-content", tabindex: "0" }),
        listener,
      ],
    }),
  });
  return view;
}

function setText(text) {
  if (!view || view.state.doc.toString() === text) return;
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    annotations: fromApp.of(true),
  });
}

// diags: [{offset, severity, message}] with UTF-16 offsets (CodeMirror's
// positions); each mark spans the rest of the token at the offset.
function setDiags(json) {
  if (!view) return;
  const doc = view.state.doc;
  const list = [];
  for (const d of JSON.parse(json)) {
    const from = Math.min(d.offset, doc.length);
    const line = doc.lineAt(from);
    const rest = line.text.slice(from - line.from);
    const m = /^[^\s,:\]}]+/.exec(rest);
    let to = from + (m ? m[0].length : 0);
    let start = from;
    if (to === start) {
      // Nothing to underline at the place (end of line): mark the line.
      start = line.from;
      to = line.to;
    }
    list.push({ from: start, to, severity: d.severity === "note" ? "info" : d.severity, message: d.message });
  }
  view.dispatch(setDiagnostics(view.state, list));
}

function goto(offset) {
  if (!view) return;
  const pos = Math.min(offset, view.state.doc.length);
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
  view.focus();
}

const value = () => (view ? view.state.doc.toString() : "");
const caret = () => (view ? view.state.selection.main.head : 0);

window.svcgenEditor = { mount, setText, setDiagnostics: setDiags, goto, value, caret };
