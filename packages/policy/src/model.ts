/** Name under which the tool-pattern function is registered with Casbin (used in the matcher). */
export const TOOL_MATCH_FUNCTION = 'toolMatch';

/**
 * The Casbin model every Gatehouse policy is evaluated with (published verbatim in
 * `policy.published`, and part of the policy version).
 *
 * - request `r = sub, obj`: a subject (`agent:<client_id>` or `user:<sub>`) and a namespaced tool;
 * - policy `p = sub, obj, eft`: subject (`agent:`, `user:`, `role:` or `*`), tool pattern, allow|deny;
 * - role `g = _, _`: member → role, transitive (Casbin follows at most 10 hops);
 * - effect: allowed iff some matching rule allows and none denies (deny overrides, default deny);
 * - matcher: the rule's subject is `*`, the subject itself or one of its roles, and the pattern
 *   matches the tool (`*` = any run of characters, anchored).
 */
export const POLICY_MODEL = `[request_definition]
r = sub, obj

[policy_definition]
p = sub, obj, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.sub == "*" || g(r.sub, p.sub)) && ${TOOL_MATCH_FUNCTION}(r.obj, p.obj)
`;

/** Models this version of Gatehouse can evaluate (a published policy naming another is refused). */
export const SUPPORTED_MODELS: readonly string[] = [POLICY_MODEL];
