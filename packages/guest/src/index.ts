export type { GuestCosts } from './costs.js';
export type { GuestApplication, GuestKernelOptions, GuestNicConfig } from './kernel.js';
export { GuestConfigError, GuestKernel } from './kernel.js';
export { GUEST_LAYOUT, GUEST_VECTOR } from './layout.js';
export type { SocketTransmit, TcpServerOptions, UdpSocketOptions } from './sockets.js';
export { TCP_STATE, TcpConnection, TcpListener, UdpSocket } from './sockets.js';
export type { TcpReceiverOptions } from './tcp.js';
export { TcpReceiver } from './tcp.js';
