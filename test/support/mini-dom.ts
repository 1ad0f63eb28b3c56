/**
 * A minimal DOM, enough to run the inspector page's script (src/inspector/page/app.ts) in this
 * process: elements parsed from the real page shell (src/inspector/page.ts) and the real chart
 * SVGs (diagrams/), `querySelector` for the selector forms the page uses (tag, `#id`, `.class`,
 * `[attr="value"]`, `:checked`, descendants, lists), events, `dataset`, `classList`, `style`.
 * No layout: `scrollTop` and `clientHeight` are what a test sets. Not a browser: the page's
 * look and its scrolling stay tested in Chromium (test/browser/).
 */

/** A text node. */
export class MiniText {
  parent: MiniElement | undefined;
  constructor(public textContent: string) {}
}

type Child = MiniElement | MiniText;
type Listener = (event: unknown) => void;

const VOID = new Set(['meta', 'link', 'input', 'br', 'img', 'hr']);

/** An element: its attributes, children, listeners and the few properties the page reads. */
export class MiniElement {
  readonly children: Child[] = [];
  parent: MiniElement | undefined;
  readonly attributes = new Map<string, string>();
  /** As a browser's DOMStringMap: whatever is set is stored as a string (`undefined` as "undefined"). */
  readonly dataset: Record<string, string> = new Proxy({} as Record<string, string>, {
    set: (target, key, value) => Reflect.set(target, key, String(value)),
  });
  readonly style: Record<string, string> = {};
  readonly classList: MiniClassList;
  readonly #listeners = new Map<string, Listener[]>();
  /** The options each listener was added with, by event type (to check `passive`). */
  readonly listenerOptions = new Map<string, unknown[]>();
  id = '';
  name = '';
  value = '';
  type = '';
  title = '';
  checked = false;
  scrollTop = 0;
  clientHeight = 0;

  constructor(readonly tagName: string) {
    this.classList = new MiniClassList();
  }

  get className(): string {
    return this.classList.toString();
  }

  set className(value: string) {
    this.classList.set(value);
  }

  get textContent(): string {
    return this.children.map((child) => child.textContent).join('');
  }

  set textContent(value: string) {
    this.replaceChildren(new MiniText(value));
  }

  /** The element children (no text). */
  get elements(): { namedItem(name: string): MiniElement | null } {
    return { namedItem: (name) => this.querySelector(`[name="${name}"]`) };
  }

  setAttribute(name: string, value: string): void {
    if (name === 'id') this.id = value;
    else if (name === 'class') this.className = value;
    else if (name.startsWith('data-')) this.dataset[camel(name.slice(5))] = value;
    else if (name === 'name' || name === 'value' || name === 'type') this[name] = value;
    else if (name === 'checked') this.checked = true;
    this.attributes.set(name, value);
  }

  getAttribute(name: string): string | null {
    if (name === 'id') return this.id || null;
    if (name === 'class') return this.className || null;
    if (name.startsWith('data-')) return this.dataset[camel(name.slice(5))] ?? null;
    if (name === 'name' || name === 'value' || name === 'type') return this[name] || null;
    return this.attributes.get(name) ?? null;
  }

  removeAttribute(name: string): void {
    this.attributes.delete(name);
  }

  hasAttribute(name: string): boolean {
    return this.getAttribute(name) !== null;
  }

  append(...nodes: Child[]): void {
    for (const node of nodes) {
      node.parent?.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = this;
      this.children.push(node);
    }
  }

  replaceChildren(...nodes: Child[]): void {
    for (const child of this.children.splice(0)) child.parent = undefined;
    this.append(...nodes);
  }

  addEventListener(type: string, listener: Listener, options?: unknown): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
    this.listenerOptions.set(type, [...(this.listenerOptions.get(type) ?? []), options]);
  }

  /** Calls the listeners of `type` here and on every ancestor (events bubble). */
  dispatch(type: string, event: unknown = { type }): void {
    for (let at: MiniElement | undefined = this; at !== undefined; at = at.parent) for (const listener of at.#listeners.get(type) ?? []) listener(event);
  }

  click(): void {
    this.dispatch('click');
  }

  /** Every element below this one, in document order. */
  descendants(): MiniElement[] {
    const all: MiniElement[] = [];
    for (const child of this.children) if (child instanceof MiniElement) all.push(child, ...child.descendants());
    return all;
  }

  querySelectorAll(selectors: string): MiniElement[] {
    // Compounds are split at spaces outside brackets: `[data-singleton="two words"]` is one.
    const lists = selectors.split(',').map((selector) => (selector.match(/(?:[^\s[]+|\[[^\]]*\])+/g) ?? []).map(parseCompound));
    return this.descendants().filter((element) => lists.some((list) => matchesChain(element, list, this)));
  }

  querySelector(selectors: string): MiniElement | null {
    return this.querySelectorAll(selectors)[0] ?? null;
  }
}

/** The `<svg>` root of a drawing: what the page checks with `instanceof SVGSVGElement`. */
export class MiniSvgElement extends MiniElement {}

class MiniClassList {
  #names = new Set<string>();
  add(...names: string[]): void {
    for (const name of names) this.#names.add(name);
  }
  remove(...names: string[]): void {
    for (const name of names) this.#names.delete(name);
  }
  contains(name: string): boolean {
    return this.#names.has(name);
  }
  set(value: string): void {
    this.#names = new Set(value.split(/\s+/).filter(Boolean));
  }
  toString(): string {
    return [...this.#names].join(' ');
  }
}

interface Compound {
  readonly tag?: string;
  readonly id?: string;
  readonly classes: string[];
  readonly attributes: [string, string | undefined][];
  readonly checked: boolean;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function parseCompound(text: string): Compound {
  const compound: { tag?: string; id?: string; classes: string[]; attributes: [string, string | undefined][]; checked: boolean } = {
    classes: [],
    attributes: [],
    checked: false,
  };
  const pattern = /^[a-z][a-z0-9-]*|#[\w-]+|\.[\w-]+|\[([\w-]+)(?:="([^"]*)")?\]|:checked/gi;
  for (const match of text.matchAll(pattern)) {
    const token = match[0];
    if (token === ':checked') compound.checked = true;
    else if (token.startsWith('#')) compound.id = token.slice(1);
    else if (token.startsWith('.')) compound.classes.push(token.slice(1));
    else if (token.startsWith('[')) compound.attributes.push([match[1]!, match[2]]);
    else compound.tag = token.toLowerCase();
  }
  return compound;
}

function matches(element: MiniElement, compound: Compound): boolean {
  if (compound.tag !== undefined && element.tagName !== compound.tag) return false;
  if (compound.id !== undefined && element.id !== compound.id) return false;
  if (compound.checked && !element.checked) return false;
  if (!compound.classes.every((name) => element.classList.contains(name))) return false;
  return compound.attributes.every(([name, value]) => (value === undefined ? element.hasAttribute(name) : element.getAttribute(name) === value));
}

/** `list` matched right to left: the last compound by `element`, each earlier one by an ancestor below `scope`. */
function matchesChain(element: MiniElement, list: Compound[], scope: MiniElement): boolean {
  if (!matches(element, list.at(-1)!)) return false;
  let at = element.parent;
  for (let index = list.length - 2; index >= 0; index--) {
    while (at !== undefined && at !== scope && !matches(at, list[index]!)) at = at.parent;
    if (at === undefined || at === scope) return false;
    at = at.parent;
  }
  return true;
}

function decodeEntities(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|#45);/g, (_, name: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', '#45': '-' })[name]!);
}

/**
 * Parses the markup the inspector serves (its HTML shell, the Graphviz SVGs): tags with quoted
 * attributes, text, comments, doctypes and processing instructions, void and self-closed tags.
 * Returns a root element holding what it parsed.
 */
export function parseMarkup(markup: string): MiniElement {
  const root = new MiniElement('#root');
  let at = root;
  const pattern = /<!--[\s\S]*?-->|<![^>]*>|<\?[\s\S]*?\?>|<\/([\w:-]+)\s*>|<([\w:-]+)((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*(\/?)>|[^<]+/g;
  for (const match of markup.matchAll(pattern)) {
    const [token, closing, opening, attributes, selfClosed] = match;
    if (closing !== undefined) {
      if (at.parent !== undefined) at = at.parent;
    } else if (opening !== undefined) {
      const tag = opening.toLowerCase();
      const element = tag === 'svg' ? new MiniSvgElement(tag) : new MiniElement(tag);
      for (const [, name, value] of attributes!.matchAll(/([\w:-]+)(?:="([^"]*)")?/g)) element.setAttribute(name!, decodeEntities(value ?? ''));
      at.append(element);
      if (selfClosed !== '/' && !VOID.has(tag)) at = element;
    } else if (!token.startsWith('<')) {
      at.append(new MiniText(decodeEntities(token)));
    }
  }
  return root;
}

/** A document over a parsed page: the part of `document` the inspector page uses. */
export class MiniDocument {
  constructor(readonly root: MiniElement) {}

  querySelector(selectors: string): MiniElement | null {
    return this.root.querySelector(selectors);
  }

  querySelectorAll(selectors: string): MiniElement[] {
    return this.root.querySelectorAll(selectors);
  }

  createElement(tag: string): MiniElement {
    return new MiniElement(tag);
  }

  /** `deep` false copies the element without its children, as a browser does. */
  importNode<N extends MiniElement>(node: N, deep?: boolean): N {
    if (deep === true) return node;
    const copy = new (node.constructor as new (tag: string) => N)(node.tagName);
    for (const [name, value] of node.attributes) copy.setAttribute(name, value);
    return copy;
  }
}

/**
 * `new DOMParser().parseFromString(text, type).documentElement`: as SVG (`image/svg+xml`), the
 * first element; as anything else (HTML), an `<html>` element, never an SVG root.
 */
export class MiniDomParser {
  parseFromString(text: string, type: string): { documentElement: MiniElement | null } {
    if (type !== 'image/svg+xml') return { documentElement: new MiniElement('html') };
    return { documentElement: parseMarkup(text).children.find((child): child is MiniElement => child instanceof MiniElement) ?? null };
  }
}
