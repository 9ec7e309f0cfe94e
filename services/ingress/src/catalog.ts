import type { CatalogTool } from '@gatehouse/events';
import { catalogPublishedData, TOOL_NAMESPACE_SEPARATOR } from '@gatehouse/policy';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { IngressError } from './errors.js';

/** Separator between the upstream name and the upstream's own tool name. */
export const NAMESPACE_SEPARATOR = TOOL_NAMESPACE_SEPARATOR;

/** One tool as the gateway offers it. */
export interface CatalogEntry {
  /** Namespaced name `<server>__<tool>`: what callers see, what the policy decides on. */
  readonly name: string;
  /** Upstream (config key) that serves it. */
  readonly server: string;
  /** The upstream's own name for it. */
  readonly upstreamTool: string;
  /** The definition callers are shown: the upstream's, renamed. */
  readonly tool: Tool;
}

/** The tools of every upstream, namespaced. Immutable once built. */
export class ToolCatalog {
  readonly #entries = new Map<string, CatalogEntry>();
  readonly #names: string[] = [];
  readonly #upstreams: ReadonlyMap<string, readonly Tool[]>;

  /** Throws `GH_ERR_INGRESS_CATALOG_CONFLICT` if two tools end up with the same namespaced name. */
  constructor(upstreams: ReadonlyMap<string, readonly Tool[]>) {
    this.#upstreams = upstreams;
    for (const [server, tools] of upstreams) {
      for (const tool of tools) {
        const name = `${server}${NAMESPACE_SEPARATOR}${tool.name}`;
        if (this.#entries.has(name)) {
          throw new IngressError(
            'GH_ERR_INGRESS_CATALOG_CONFLICT',
            `upstreams.${server}: tool name ${JSON.stringify(name)} is offered twice`,
          );
        }
        this.#entries.set(name, { name, server, upstreamTool: tool.name, tool: { ...tool, name } });
        this.#names.push(name);
      }
    }
  }

  /** The entry for a namespaced name, if any. */
  get(name: string): CatalogEntry | undefined {
    return this.#entries.get(name);
  }

  /** Every namespaced name, upstream by upstream, in the upstreams' order. */
  names(): readonly string[] {
    return this.#names;
  }

  /** Definitions for the given names (unknown names skipped), in the given order. */
  tools(names: readonly string[]): Tool[] {
    const out: Tool[] = [];
    for (const name of names) {
      const entry = this.#entries.get(name);
      if (entry) out.push(entry.tool);
    }
    return out;
  }

  /**
   * The `catalog.published` payload for one upstream (`@gatehouse/policy`'s `catalogPublishedData`,
   * so the query side computes the same version from the same tools).
   */
  publishedData(server: string): { version: string; tools: CatalogTool[] } {
    return catalogPublishedData(server, this.#upstreams.get(server) ?? []);
  }
}
