// Markup built from a template whose every interpolated value is escaped, unless it is markup
// built so itself (or a list of such): `html`<li>${name}</li>`` is safe for innerHTML.

/** Markup whose interpolated values were escaped when it was built. */
export class Html {
  /** @param {string} markup */
  constructor(markup) {
    this.markup = markup;
  }

  toString() {
    return this.markup;
  }
}

/** @param {unknown} value */
const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A value as it goes into markup: markup as it is, a list joined, nothing for null, undefined
 * and false (so `${ready && html`...`}` works), anything else escaped.
 * @param {unknown} value
 * @returns {string}
 */
function piece(value) {
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value === null || value === undefined || value === false) return "";
  return escape(value);
}

/**
 * @param {TemplateStringsArray} strings
 * @param {...unknown} values
 */
export function html(strings, ...values) {
  return new Html(strings.reduce((out, string, i) => out + piece(values[i - 1]) + string));
}

/**
 * Replace what ``element`` shows (or add to it, ``at`` "beforeend").
 * @param {Element} element
 * @param {Html} markup
 * @param {InsertPosition} [at]
 */
export function show(element, markup, at) {
  if (at) element.insertAdjacentHTML(at, markup.markup);
  else element.innerHTML = markup.markup;
}
