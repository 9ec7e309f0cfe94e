/**
 * Whether an agent may act for itself, i.e. be decided on its own grants alone when its token's
 * subject is its own client id (client credentials), from the gateway's `selfActingAgents` list:
 * every agent when unset, else the listed ones. The ingress decides calls so and what-if re-decides
 * them so; `decide` itself only knows a null user as "for itself".
 */
export function selfActingAgents(list: readonly string[] | undefined): (agent: string) => boolean {
  if (list === undefined) return () => true;
  const allowed = new Set(list);
  return (agent) => allowed.has(agent);
}
