/**
 * Socket.IO room names, shared by the API's server and the workers' emitter (which must not
 * load socket.io or its adapter). A user id may contain ":", but each channel's prefix is
 * fixed and distinct, so a user channel can never equal a room channel.
 */
export const userChannel = (userId: string) => `user:${userId}`;
export const roomChannel = (roomId: string) => `room:${roomId}`;
