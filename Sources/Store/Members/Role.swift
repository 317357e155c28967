/// A member's role in a workspace (`memberships.role`).
public enum Role: String, CaseIterable, Codable, Sendable {
    case owner
    case adminDoctor = "admin_doctor"
    case doctor
    case staff

    /// Owner and admin doctor manage senders, provisioning, bundles and settings.
    public var isAdmin: Bool { self == .owner || self == .adminDoctor }
}
