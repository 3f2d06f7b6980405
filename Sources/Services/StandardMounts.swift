public import Namespace

/// The namespace every agent gets, with the access levels an agent token has by default.
/// An agent's `config.access` may narrow or widen them per mount path.
public enum StandardMounts {
    public static func entries(host: any RuntimeHost) -> [MountTable.Entry] {
        func p(_ s: String) -> Path { try! Path(s) }  // literals below are valid paths
        return [
            .init(p("/ctl"), CtlService(host: host), .readWrite),
            .init(p("/status"), JSONFileService(.status, host: host), .readOnly),
            .init(p("/config"), JSONFileService(.config, host: host), .readOnly),
            .init(p("/state"), JSONFileService(.state, host: host), .readOnly),
            .init(p("/inbox"), InboxService(host: host), .readWrite),
            .init(p("/outbox"), LogService.outbox(host: host), .readOnly),
            .init(p("/deadletter"), DeadletterService(host: host), .readWrite),
            .init(p("/goals"), GoalsService(host: host), .readWrite),
            .init(p("/logs"), LogService.logs(host: host), .readOnly),
            .init(p("/identity"), IdentityService(host: host), .signOnly),
            .init(p("/mounts"), MountsService(), .readOnly),
            .init(p("/compute"), ComputeService(host: host), .readWrite),
            .init(p("/containers"), ContainersService(host: host), .readWrite),
            .init(p("/program"), ProgramService(host: host), .readOnly),
        ]
    }

    public static func table(host: any RuntimeHost) -> MountTable {
        try! MountTable(entries(host: host))  // fixed table: no reserved names, no duplicates
    }
}
