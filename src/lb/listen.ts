// Binding a proxy's listening socket, shared by the HTTP and TCP data planes.
import type net from "node:net";

/** Listen on host:port (port 0 picks one); resolves to the bound port, rejects on bind errors. */
export function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
