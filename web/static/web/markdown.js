/*
 * Markdown of assistant replies to safe DOM: markdown-it (CommonMark + tables + autolinks, raw HTML
 * off, so "<script>" in a reply is text) -> DOMPurify with an allow-list -> a DocumentFragment.
 * Code blocks are highlighted by highlight.js (class names only: the CSP forbids inline styles).
 * Images are shown as links: a reply must not make the browser fetch anything by itself.
 */
(function () {
  "use strict";

  const ALLOWED_TAGS = [
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
    "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
  ];
  const ALLOWED_ATTR = ["href", "title", "class", "start"];
  const SAFE_URL = /^(?:https?:|mailto:|tel:|#)/i;
  const SAFE_CLASS = /^(?:hljs[\w-]*|language-[\w+#.-]+|align-(?:left|center|right))$/;
  let guessLanguages = true; // off while a reply streams: guessing on every chunk is too slow

  const md = window.markdownit({
    html: false,
    linkify: true,
    typographer: false,
    highlight(code, language) {
      const hljs = window.hljs;
      if (!hljs) return "";
      try {
        if (language && hljs.getLanguage(language)) {
          return hljs.highlight(code, { language, ignoreIllegals: true }).value;
        }
        return guessLanguages && code.length <= 20000 ? hljs.highlightAuto(code).value : "";
      } catch (error) {
        return "";
      }
    },
  });

  md.renderer.rules.image = (tokens, index) => {
    const token = tokens[index];
    const label = md.utils.escapeHtml(token.content || token.attrGet("src") || "image");
    const src = md.utils.escapeHtml(token.attrGet("src") || "");
    return `<a href="${src}">${label}</a>`;
  };

  /* Table alignment becomes a class: markdown-it writes style="text-align:…", and a style attribute
     breaks the CSP (style-src 'self') as soon as DOMPurify parses the HTML. */
  md.core.ruler.push("alignment_classes", (state) => {
    for (const token of state.tokens) {
      if (token.type !== "th_open" && token.type !== "td_open") continue;
      const align = /text-align:\s*(left|center|right)/.exec(token.attrGet("style") || "");
      if (token.attrs) token.attrs = token.attrs.filter(([name]) => name !== "style");
      if (align) token.attrJoin("class", `align-${align[1]}`);
    }
  });

  const purify = window.DOMPurify;
  purify.addHook("uponSanitizeAttribute", (node, data) => {
    if (data.attrName === "class") {
      data.attrValue = data.attrValue
        .split(/\s+/)
        .filter((name) => SAFE_CLASS.test(name))
        .join(" ");
    }
  });
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName !== "A") return;
    const href = node.getAttribute("href") || "";
    if (!SAFE_URL.test(href)) {
      node.removeAttribute("href");
      return;
    }
    if (!href.startsWith("#")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });

  const CONFIG = {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: SAFE_URL,
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };

  /* streaming: true while the reply is still arriving (code blocks without a language stay plain). */
  function render(text, { streaming = false } = {}) {
    guessLanguages = !streaming;
    try {
      return purify.sanitize(md.render(String(text || "")), CONFIG);
    } finally {
      guessLanguages = true;
    }
  }

  window.MedibotMarkdown = { render };
})();
