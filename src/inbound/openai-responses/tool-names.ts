// The Responses API's namespaced function tools (`{"type":"namespace","name":"crm","tools":[...]}`,
// called back as a function_call with `name` and `namespace`) as the flat function names chat
// completions take, and the names chat calls come back with as the tool and namespace again.
import { createHash } from 'node:crypto';

/**
 * OpenAI's rule for a chat function name, which Bedrock shares (Anthropic allows 128 characters):
 * a flat name the gateway makes keeps to it, so that every provider takes it.
 */
const CHAT_FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_CHAT_FUNCTION_NAME_CHARS = 64;
/** Between namespace and name: `multi_agent_v1__spawn_agent` reads as both to the model. */
const NAMESPACE_JOINER = '__';
/** Characters a chat function name may not hold, each replaced in a fallback name. */
const NOT_IN_CHAT_NAME = /[^a-zA-Z0-9_-]/g;
/** Hex characters of the hash that makes a fallback name unique to its tool. */
const HASH_CHARS = 8;

const NONE: readonly string[] = Object.freeze([]);

function listed(index: Map<string, string[]>, key: string): string[] {
  let list = index.get(key);
  if (list === undefined) index.set(key, (list = []));
  return list;
}

/** A function as the client named it: its own name, and its namespace if it is in one. */
export interface ToolName {
  readonly name: string;
  readonly namespace: string | undefined;
}

/**
 * The flat names of one request's tools. A plain function keeps its name; a namespaced one is
 * `<namespace>__<name>` when that is a valid chat name no other tool has, else the valid
 * characters of it, cut short, with a hash of the pair: the same pair gets the same name in every
 * request with the same tools, so a call sent back in history maps to the tool it called.
 */
export class ToolNames {
  /** Every flat name given out: plain functions' names and namespaced ones'. */
  private readonly taken = new Set<string>();
  /** Namespaced functions by flat name. */
  private readonly namespaced = new Map<string, ToolName>();
  /** Flat names by `<namespace>\0<name>`. */
  private readonly flat = new Map<string, string>();
  /** Flat names of namespaced functions by their own name, and by their namespace. */
  private readonly byName = new Map<string, string[]>();
  private readonly byNamespace = new Map<string, string[]>();

  /** A plain function's name, kept as it is: reserved before any namespaced name is made. */
  reserve(name: string): void {
    this.taken.add(name);
  }

  /** The flat chat name of `name` in `namespace`, made on first use. */
  flatten(namespace: string, name: string): string {
    const key = `${namespace}\0${name}`;
    const known = this.flat.get(key);
    if (known !== undefined) return known;
    const joined = namespace + NAMESPACE_JOINER + name;
    const chatName = CHAT_FUNCTION_NAME.test(joined) && !this.taken.has(joined) ? joined : this.fallback(joined, key);
    this.taken.add(chatName);
    this.flat.set(key, chatName);
    this.namespaced.set(chatName, { name, namespace });
    listed(this.byName, name).push(chatName);
    listed(this.byNamespace, namespace).push(chatName);
    return chatName;
  }

  /** The flat name of a namespaced function already made, if there is one. */
  find(namespace: string, name: string): string | undefined {
    return this.flat.get(`${namespace}\0${name}`);
  }

  /** The namespaced functions whose own name is `name`, as flat names. */
  named(name: string): readonly string[] {
    return this.byName.get(name) ?? NONE;
  }

  /** The functions of `namespace`, as flat names. */
  inNamespace(namespace: string): readonly string[] {
    return this.byNamespace.get(namespace) ?? NONE;
  }

  /** The tool a chat call's name stands for: a namespaced one's own name and namespace, else the name itself. */
  unflatten(chatName: string): ToolName {
    return this.namespaced.get(chatName) ?? { name: chatName, namespace: undefined };
  }

  /** Valid characters, cut to leave room for a hash of the pair; a counter after it in the unlikely case that is taken too. */
  private fallback(joined: string, key: string): string {
    const valid = joined.replace(NOT_IN_CHAT_NAME, '_');
    const hash = createHash('sha256').update(key).digest('hex').slice(0, HASH_CHARS);
    for (let count = 0; ; count++) {
      const suffix = count === 0 ? `_${hash}` : `_${hash}_${count}`;
      const candidate = valid.slice(0, MAX_CHAT_FUNCTION_NAME_CHARS - suffix.length) + suffix;
      if (!this.taken.has(candidate)) return candidate;
    }
  }
}
