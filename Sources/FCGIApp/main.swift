import Domain
import FastCGI
import Foundation

// medsync-fcgi: the API's FastCGI workers behind nginx.
//
// Configuration (environment, or .env in the working directory; see DESIGN.md):
//   DATABASE_URL            libpq conninfo or postgresql:// URL (required)
//   TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, MEDSYNC_FERNET_KEY   (required)
//   MEDSYNC_LISTEN          unix socket path (made 0660), "host:port", or "" under systemd socket
//                           activation (LISTEN_FDS/LISTEN_PID, fd 3 — also taken whenever systemd passes one)
//   MEDSYNC_WORKERS         worker threads (16)
//   MEDSYNC_MAX_BODY_BYTES  larger request bodies get 413 (1048576)
// Exits 0 after SIGTERM/SIGINT once requests in flight are answered; 78 on a configuration error.

func runServer() -> Int32 {
    let config: Config
    do {
        // Webhook signatures need the master token; subaccount credentials need the Fernet key.
        config = try Config.load(requiring: [.databaseURL, .twilioAccountSID, .twilioAuthToken, .fernetKey])
    } catch {
        Log.line("medsync-fcgi: \(error.message)")
        return 78  // EX_CONFIG
    }
    HTTPClient.globalInit()
    let router = Router.medsync()
    let server = FastCGIServer(listen: config.listen, workers: config.workers, maxBodyBytes: config.maxBodyBytes)
    do {
        try server.run {
            let ctx = AppContext(config: config)
            return { request in router.handleMeasured(request, ctx) }  // handle + Metrics (Metrics.swift)
        }
    } catch {
        Log.line("medsync-fcgi: \(error.message)")
        return 1
    }
    Log.line("medsync-fcgi: stopped")
    return 0
}

exit(runServer())
