/**
 * The outbound agent: runs in the customer's environment, dials out to the control plane over
 * WebSocket (no inbound port), and runs the jobs it is sent on the customer's database, sending
 * back only what each job declares as its output.
 *
 * @packageDocumentation
 */
export {};
