/** Which of the three wire protocols a request speaks, from its content type. */

export type Protocol = "grpc" | "grpc_web" | "connect";

export function protocolOf(contentType: string | null): Protocol {
  if (contentType?.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType?.startsWith("application/grpc")) return "grpc";
  return "connect";
}
