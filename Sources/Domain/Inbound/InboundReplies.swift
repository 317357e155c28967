import Foundation

/// The bot's own sentences (English and Spanish): used by the deterministic fallback and for every
/// fact the bot states itself (bookings, cancellations, consent), so they are always true.
public enum InboundReplies {
    static func es(_ language: Language) -> Bool { language == .es }

    public static func slotList(_ offer: PendingOffer) -> String {
        offer.slots.map { "\($0.n). \($0.label)" }.joined(separator: "\n")
    }

    static func pick(_ language: Language) -> String {
        es(language) ? "Responde con el número del horario que prefieras." : "Reply with the number of the time you prefer."
    }

    static func noSlots(_ language: Language) -> String {
        es(language) ? "Ahora mismo no hay horarios libres en los próximos días. Una persona de nuestro equipo te contactará."
            : "There are no free times in the next days right now. A member of our team will contact you."
    }

    /// "<opener> Available times:\n1. …\nReply with the number…", or the no-slots sentence.
    public static func offer(_ opener: String, _ offer: PendingOffer?, language: Language) -> String {
        guard let offer, !offer.slots.isEmpty else { return opener + " " + noSlots(language) }
        return opener + (es(language) ? " Horarios disponibles:\n" : " Available times:\n") + slotList(offer) + "\n" + pick(language)
    }

    public static func greeting(clinic: String, language: Language) -> String {
        es(language) ? "¡Hola! Soy el asistente de \(clinic). Puedo ayudarte a reservar una cita."
            : "Hello! I'm the assistant of \(clinic). I can help you book an appointment."
    }

    public static func question(language: Language) -> String {
        es(language) ? "Gracias por tu mensaje. Nuestro equipo responderá tu pregunta pronto. Si quieres una cita,"
            : "Thanks for your message. Our team will answer your question soon. If you want an appointment,"
    }

    public static func booked(_ label: String, language: Language) -> String {
        es(language) ? "Perfecto, solicité tu cita para \(label). La clínica la confirmará en breve."
            : "Great, I've requested \(label) for you. The clinic will confirm it shortly."
    }

    public static func taken(_ label: String, language: Language) -> String {
        es(language) ? "Lo siento, el horario de \(label) acaba de ocuparse." : "Sorry, \(label) was just taken."
    }

    /// The offered doctor no longer sees patients here (removed, or no longer a doctor).
    public static func unavailable(_ label: String, language: Language) -> String {
        es(language) ? "Lo siento, el horario de \(label) ya no está disponible." : "Sorry, \(label) is no longer available."
    }

    public static func notAnOption(language: Language) -> String {
        es(language) ? "Esa no es una de las opciones." : "That is not one of the options."
    }

    /// Staff rejected the appointment the patient asked for (followed by free times, if any).
    public static func declined(_ label: String, language: Language) -> String {
        es(language) ? "Lo sentimos, la clínica no pudo confirmar tu cita de \(label)."
            : "Sorry, the clinic could not confirm your appointment \(label)."
    }

    public static func cancelled(_ label: String, language: Language) -> String {
        es(language) ? "Listo, cancelamos tu cita de \(label). Si quieres otra, escríbenos."
            : "Done, your appointment \(label) is cancelled. Write to us if you want a new one."
    }

    public static func moving(_ label: String, language: Language) -> String {
        es(language) ? "Claro, cambiemos tu cita de \(label). Al elegir un nuevo horario, la anterior se cancela."
            : "Sure, let's move your appointment \(label). When you pick a new time, the old one is cancelled."
    }

    public static func nothingToMove(language: Language) -> String {
        es(language) ? "No tienes citas próximas para cambiar; puedes reservar una nueva."
            : "You have no upcoming appointment to move; you can book a new one."
    }

    public static func nothingToCancel(language: Language) -> String {
        es(language) ? "No tienes citas próximas para cancelar." : "You have no upcoming appointment to cancel."
    }

    public static func optedOut(clinic: String, language: Language) -> String {
        es(language) ? "Te diste de baja: no recibirás más mensajes de \(clinic). Responde ALTA para volver a suscribirte."
            : "You are unsubscribed and will not receive more messages from \(clinic). Reply START to subscribe again."
    }

    public static func optedIn(clinic: String, language: Language) -> String {
        es(language) ? "Volviste a suscribirte a los mensajes de \(clinic). Responde BAJA para darte de baja."
            : "You are subscribed again to messages from \(clinic). Reply STOP to unsubscribe."
    }

    public static func handoff(language: Language) -> String {
        es(language) ? "Te comunico con una persona de nuestro equipo. Te responderá aquí en breve."
            : "I'll connect you with a member of our team. They will reply here shortly."
    }

    public static func farewell(language: Language) -> String {
        es(language) ? "¡Hasta luego! Escríbenos cuando lo necesites." : "Goodbye! Write to us any time you need."
    }

    public static func thanks(language: Language) -> String {
        es(language) ? "¡De nada! Escríbenos cuando lo necesites." : "You're welcome! Write to us any time you need."
    }

    public static let tooLong = "Your message is too long for us to read here; please send a shorter one. / "
        + "Tu mensaje es demasiado largo; por favor envía uno más corto."
    public static let emptyMessage = "We could not read your message; please write it as text. / "
        + "No pudimos leer tu mensaje; por favor escríbelo como texto."

    // For callers that hold a language as text (staff's notifications): an unknown one reads as English.
    public static func offer(_ opener: String, _ offer: PendingOffer?, language: String) -> String {
        self.offer(opener, offer, language: Language(rawValue: language) ?? .en)
    }

    public static func declined(_ label: String, language: String) -> String {
        declined(label, language: Language(rawValue: language) ?? .en)
    }
}
