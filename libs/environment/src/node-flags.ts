/**
 * The V8 flags every service process runs with: the image's NODE_OPTIONS (Dockerfile, so compose and the Kubernetes
 * manifests inherit it), `tidemark up` and the e2e stack all pass these.
 *
 * A 1 MiB semi-space: by default V8 grows the young generation to 2 × 32 MiB as soon as start-up allocates, and a
 * streaming service keeps it there, so each process held ~40 MiB of RSS at idle (~80 MiB at its peak) in a young
 * generation that mostly holds garbage. The bytes a service streams live outside the JS heap (Buffers), so the
 * more frequent scavenges are cheap: a 256 MiB physical backup through the stack took the same time with it.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
