// English and Spanish. The language comes from the browser and can be switched (kept in localStorage).
const STRINGS = {
  en: {
    'app.title': 'MedSync WhatsApp', loading: 'Loading…', cancel: 'Cancel', save: 'Save', saved: 'Saved.', yes: 'Yes', no: 'No',
    'signin.intro': 'Sign in with your clinic account.', 'signin.email': 'Email', 'signin.password': 'Password', 'signin.submit': 'Sign in',
    'signin.wrong': 'That email and password do not match an account.', 'signin.expired': 'Your session has ended. Please sign in again.',
    'signin.signedOut': 'You have signed out.', 'signin.noWorkspace': 'Your account is not a member of any clinic yet.',
    'workspace.choose': 'Choose a clinic', 'workspace.switch': 'Switch clinic',
    'role.owner': 'Owner', 'role.admin_doctor': 'Admin doctor', 'role.doctor': 'Doctor', 'role.staff': 'Staff',
    'nav.label': 'Main', 'nav.conversations': 'Conversations', 'nav.pending': 'Pending', 'nav.bundle': 'Bundle messages', 'nav.settings': 'Settings',
    'nav.signout': 'Sign out', 'nav.language': 'Language',
    'lang.en': 'English', 'lang.es': 'Spanish',
    'error.network': 'The server cannot be reached. Check your connection and try again.',
    'error.forbidden': 'Your role in this clinic does not allow this action. Ask an owner or an admin doctor.',
    'error.generic': 'Something went wrong. Please try again.',
    'error.window_closed': 'The 24-hour window is closed: only an approved template can be sent now.',
    'error.no_consent': 'This patient has not agreed to receive WhatsApp messages.',
    'error.no_active_sender': 'This clinic has no active WhatsApp number. Link or provision one in Settings.',
    'error.twilio_unavailable': 'WhatsApp (Twilio) is not answering right now. Try again in a minute.',
    'conv.search': 'Search name, phone or text', 'conv.listLabel': 'Conversations, newest first', 'conv.more': 'Load more',
    'conv.empty': 'No conversations yet.', 'conv.noMatch': 'No conversation matches.', 'conv.you': 'You:', 'conv.media': '(attachment)',
    'conv.handoff': 'staff', 'conv.bot': 'bot', 'conv.unread': '{n} unread',
    'window.closed': 'closed · templates only', 'window.openHours': 'open · {n} h left', 'window.openMinutes': 'open · {n} min left',
    'thread.label': 'Conversation', 'thread.none': 'Choose a conversation.', 'thread.messages': 'Messages, oldest first', 'thread.older': 'Older messages',
    'thread.empty': 'No messages.', 'thread.back': 'Back', 'thread.handoff': 'Hand off to staff', 'thread.resume': 'Give back to the bot',
    'thread.delete': 'Delete', 'thread.deleteConfirm': 'Delete the conversation with {name}? It leaves the inbox (a new message brings it back).',
    'thread.failed': 'Not delivered: {reason} (error {code})', 'thread.noReason': 'no reason given', 'thread.image': 'Image from the patient',
    'thread.attachment': 'Attachment ({type})', 'thread.template': 'template {name}', 'thread.gone': 'This conversation is no longer in the inbox.',
    'status.queued': 'Queued', 'status.sending': 'Sending', 'status.sent': 'Sent', 'status.delivered': 'Delivered', 'status.read': 'Read',
    'status.failed': 'Failed', 'status.undelivered': 'Undelivered', 'status.received': 'Received',
    'composer.reply': 'Write a reply', 'composer.send': 'Send', 'composer.useTemplate': 'Use a template', 'composer.useText': 'Write freely',
    'composer.template': 'Template', 'composer.language': 'Language', 'composer.sendTemplate': 'Send template', 'composer.templateSent': 'Template sent.',
    'composer.closedNote': 'The 24-hour window is closed: only an approved template can be sent.',
    'tpl.appt_reminder': 'Appointment reminder', 'tpl.appt_confirmed': 'Appointment confirmed', 'tpl.followup': 'Follow-up',
    'tpl.pre_visit': 'Before the visit', 'tpl.reschedule': 'Reschedule', 'tpl.custom': 'Custom message',
    'var.patient_name': 'Patient name', 'var.doctor_name': 'Doctor name', 'var.when': 'When', 'var.clinic_name': 'Clinic name', 'var.message': 'Message',
    'panel.label': 'Patient', 'panel.show': 'Patient', 'panel.hide': 'Close', 'panel.name': 'Name', 'panel.phone': 'Phone', 'panel.language': 'Language',
    'panel.consent': 'WhatsApp consent', 'panel.appointments': 'Bookings awaiting review', 'panel.noAppointments': 'None.',
    'panel.later': 'Confirmed appointments and consent changes will show here when the API offers them.',
    'pending.title': 'Bookings awaiting review', 'pending.intro': 'The bot booked these slots; the patient is told when you accept or reject.',
    'pending.none': 'Nothing to review.', 'pending.accept': 'Accept', 'pending.reject': 'Reject', 'pending.with': 'with {doctor}',
    'pending.rejectConfirm': 'Reject the booking of {name} on {when}? The patient will be told.', 'pending.accepted': 'Accepted the booking of {name}.',
    'pending.rejected': 'Rejected the booking of {name}.', 'pending.notified': 'The patient was told on WhatsApp.',
    'pending.notNotified': 'The patient could not be told: {reason}', 'pending.awaiting': 'awaiting review', 'pending.review': 'Review',
    'pending.count': '{n} awaiting review',
    'bundle.title': 'Bundle messages', 'bundle.recipients': 'Recipients', 'bundle.upload': 'Upload', 'bundle.type': 'Type numbers',
    'bundle.file': 'CSV or Excel (.xlsx) file', 'bundle.fileHint': 'A phone column is required; name, language and other columns are optional.',
    'bundle.cc': 'Default country code', 'bundle.ccHint': 'For numbers written without +, e.g. 52.',
    'bundle.typeLabel': 'One number per line, optionally followed by a name', 'bundle.typeHint': 'e.g. +5215512345678, Ana López',
    'bundle.badNumber': 'not a phone number: use international format, e.g. +5215512345678',
    'bundle.uploadSummary': '{rows} rows: {valid} valid, {rejected} rejected, {merged} duplicates merged.',
    'bundle.fixHint': 'Fix a rejected row by typing its number in the Type numbers tab.',
    'bundle.valid': '{n} valid recipients', 'bundle.rejected': '{n} rejected rows', 'bundle.row': 'Row', 'bundle.values': 'Values', 'bundle.reason': 'Reason',
    'bundle.message': 'Message', 'bundle.body': 'Message text', 'bundle.bodyHint': 'Placeholders such as {name} are filled in for each recipient.',
    'bundle.unknown': 'Unknown placeholder(s) {list}: use {known}.', 'bundle.preview': 'Preview', 'bundle.summary': '{n} recipients (at most {max}).',
    'bundle.consent': 'Every recipient agreed to receive WhatsApp messages from this clinic.', 'bundle.send': 'Send bundle',
    'bundle.adminOnly': 'Only owners and admin doctors can send bundles.', 'bundle.progress': 'Bundle {id}', 'bundle.new': 'New bundle',
    'bundle.status': 'Status', 'bundle.detail': 'Detail', 'bundle.created': 'Created {when}',
    'bstatus.queued': 'Queued', 'bstatus.sending': 'Sending', 'bstatus.completed': 'Completed',
    'rstatus.queued': 'Queued', 'rstatus.sending': 'Sending', 'rstatus.sent': 'Sent', 'rstatus.failed': 'Failed', 'rstatus.skipped': 'Skipped', 'rstatus.unknown': 'Unknown',
    'settings.reminders': 'Appointment reminders', 'settings.enabled': 'Send reminders', 'settings.hours': 'Hours before the appointment',
    'settings.hoursHint': 'A whole number from 1 to 72.', 'settings.what': 'What the patient receives', 'settings.useTemplate': 'An approved template',
    'settings.useCustom': 'A custom message', 'settings.template': 'Template', 'settings.custom': 'Custom message',
    'settings.customHint': 'Placeholders: {patient_name}, {when}, {doctor_name}.', 'settings.readOnly': 'Only owners and admin doctors can change these settings.',
    'settings.numbers': 'WhatsApp numbers', 'settings.number': 'Number', 'settings.displayName': 'Display name', 'settings.actions': 'Actions',
    'settings.active': 'active', 'settings.inactive': 'inactive', 'settings.primary': 'primary', 'settings.makePrimary': 'Make primary',
    'settings.deactivate': 'Deactivate', 'settings.deactivateConfirm': 'Deactivate {phone}? Patients writing to it will no longer reach the clinic.',
    'settings.link': 'Link an existing number', 'settings.subaccount': 'Twilio subaccount credentials (optional)', 'settings.subSid': 'Subaccount SID',
    'settings.subToken': 'Subaccount auth token', 'settings.linkButton': 'Link number', 'settings.provision': 'Get a new number',
    'settings.clinicName': 'Clinic name', 'settings.country': 'Country (2 letters)', 'settings.areaCode': 'Area code', 'settings.provisionButton': 'Provision number',
    'settings.audit': 'Audit log', 'settings.when': 'When', 'settings.who': 'Who', 'settings.action': 'Action',
    'settings.clinic': 'Clinic', 'settings.later.profile': 'Clinic profile', 'settings.later.contentSids': 'Templates’ Content SIDs',
    'settings.later.availability': 'Doctors’ availability', 'settings.later.members': 'Members and roles',
    'settings.laterNote': 'These settings arrive with the clinic settings API.',
  },
  es: {
    'app.title': 'MedSync WhatsApp', loading: 'Cargando…', cancel: 'Cancelar', save: 'Guardar', saved: 'Guardado.', yes: 'Sí', no: 'No',
    'signin.intro': 'Inicie sesión con la cuenta de su clínica.', 'signin.email': 'Correo electrónico', 'signin.password': 'Contraseña', 'signin.submit': 'Iniciar sesión',
    'signin.wrong': 'El correo y la contraseña no corresponden a ninguna cuenta.', 'signin.expired': 'Su sesión terminó. Inicie sesión de nuevo.',
    'signin.signedOut': 'Ha cerrado la sesión.', 'signin.noWorkspace': 'Su cuenta aún no pertenece a ninguna clínica.',
    'workspace.choose': 'Elija una clínica', 'workspace.switch': 'Cambiar de clínica',
    'role.owner': 'Propietario', 'role.admin_doctor': 'Médico administrador', 'role.doctor': 'Médico', 'role.staff': 'Personal',
    'nav.label': 'Principal', 'nav.conversations': 'Conversaciones', 'nav.pending': 'Pendientes', 'nav.bundle': 'Mensajes masivos', 'nav.settings': 'Ajustes',
    'nav.signout': 'Cerrar sesión', 'nav.language': 'Idioma',
    'lang.en': 'Inglés', 'lang.es': 'Español',
    'error.network': 'No se puede contactar con el servidor. Revise su conexión e inténtelo de nuevo.',
    'error.forbidden': 'Su función en esta clínica no permite esta acción. Pídalo a un propietario o a un médico administrador.',
    'error.generic': 'Algo salió mal. Inténtelo de nuevo.',
    'error.window_closed': 'La ventana de 24 horas está cerrada: ahora solo se puede enviar una plantilla aprobada.',
    'error.no_consent': 'Este paciente no aceptó recibir mensajes de WhatsApp.',
    'error.no_active_sender': 'Esta clínica no tiene un número de WhatsApp activo. Vincule o solicite uno en Ajustes.',
    'error.twilio_unavailable': 'WhatsApp (Twilio) no responde ahora. Inténtelo en un minuto.',
    'conv.search': 'Buscar nombre, teléfono o texto', 'conv.listLabel': 'Conversaciones, las más recientes primero', 'conv.more': 'Cargar más',
    'conv.empty': 'Aún no hay conversaciones.', 'conv.noMatch': 'Ninguna conversación coincide.', 'conv.you': 'Usted:', 'conv.media': '(adjunto)',
    'conv.handoff': 'personal', 'conv.bot': 'bot', 'conv.unread': '{n} sin leer',
    'window.closed': 'cerrada · solo plantillas', 'window.openHours': 'abierta · quedan {n} h', 'window.openMinutes': 'abierta · quedan {n} min',
    'thread.label': 'Conversación', 'thread.none': 'Elija una conversación.', 'thread.messages': 'Mensajes, los más antiguos primero', 'thread.older': 'Mensajes anteriores',
    'thread.empty': 'Sin mensajes.', 'thread.back': 'Volver', 'thread.handoff': 'Pasar al personal', 'thread.resume': 'Devolver al bot',
    'thread.delete': 'Eliminar', 'thread.deleteConfirm': '¿Eliminar la conversación con {name}? Sale de la bandeja (un mensaje nuevo la devuelve).',
    'thread.failed': 'No entregado: {reason} (error {code})', 'thread.noReason': 'sin motivo', 'thread.image': 'Imagen del paciente',
    'thread.attachment': 'Adjunto ({type})', 'thread.template': 'plantilla {name}', 'thread.gone': 'Esta conversación ya no está en la bandeja.',
    'status.queued': 'En cola', 'status.sending': 'Enviando', 'status.sent': 'Enviado', 'status.delivered': 'Entregado', 'status.read': 'Leído',
    'status.failed': 'Falló', 'status.undelivered': 'No entregado', 'status.received': 'Recibido',
    'composer.reply': 'Escriba una respuesta', 'composer.send': 'Enviar', 'composer.useTemplate': 'Usar una plantilla', 'composer.useText': 'Escribir libremente',
    'composer.template': 'Plantilla', 'composer.language': 'Idioma', 'composer.sendTemplate': 'Enviar plantilla', 'composer.templateSent': 'Plantilla enviada.',
    'composer.closedNote': 'La ventana de 24 horas está cerrada: solo se puede enviar una plantilla aprobada.',
    'tpl.appt_reminder': 'Recordatorio de cita', 'tpl.appt_confirmed': 'Cita confirmada', 'tpl.followup': 'Seguimiento',
    'tpl.pre_visit': 'Antes de la consulta', 'tpl.reschedule': 'Reprogramar', 'tpl.custom': 'Mensaje personalizado',
    'var.patient_name': 'Nombre del paciente', 'var.doctor_name': 'Nombre del médico', 'var.when': 'Cuándo', 'var.clinic_name': 'Nombre de la clínica', 'var.message': 'Mensaje',
    'panel.label': 'Paciente', 'panel.show': 'Paciente', 'panel.hide': 'Cerrar', 'panel.name': 'Nombre', 'panel.phone': 'Teléfono', 'panel.language': 'Idioma',
    'panel.consent': 'Consentimiento de WhatsApp', 'panel.appointments': 'Citas por revisar', 'panel.noAppointments': 'Ninguna.',
    'panel.later': 'Las citas confirmadas y los cambios de consentimiento aparecerán aquí cuando la API los ofrezca.',
    'pending.title': 'Citas por revisar', 'pending.intro': 'El bot reservó estos horarios; al aceptar o rechazar se avisa al paciente.',
    'pending.none': 'Nada por revisar.', 'pending.accept': 'Aceptar', 'pending.reject': 'Rechazar', 'pending.with': 'con {doctor}',
    'pending.rejectConfirm': '¿Rechazar la cita de {name} el {when}? Se avisará al paciente.', 'pending.accepted': 'Cita de {name} aceptada.',
    'pending.rejected': 'Cita de {name} rechazada.', 'pending.notified': 'Se avisó al paciente por WhatsApp.',
    'pending.notNotified': 'No se pudo avisar al paciente: {reason}', 'pending.awaiting': 'por revisar', 'pending.review': 'Revisar',
    'pending.count': '{n} por revisar',
    'bundle.title': 'Mensajes masivos', 'bundle.recipients': 'Destinatarios', 'bundle.upload': 'Subir archivo', 'bundle.type': 'Escribir números',
    'bundle.file': 'Archivo CSV o Excel (.xlsx)', 'bundle.fileHint': 'Se necesita una columna de teléfono; nombre, idioma y otras columnas son opcionales.',
    'bundle.cc': 'Código de país por defecto', 'bundle.ccHint': 'Para números escritos sin +, p. ej. 52.',
    'bundle.typeLabel': 'Un número por línea, opcionalmente seguido de un nombre', 'bundle.typeHint': 'p. ej. +5215512345678, Ana López',
    'bundle.badNumber': 'no es un teléfono: use el formato internacional, p. ej. +5215512345678',
    'bundle.uploadSummary': '{rows} filas: {valid} válidas, {rejected} rechazadas, {merged} duplicados combinados.',
    'bundle.fixHint': 'Corrija una fila rechazada escribiendo su número en la pestaña Escribir números.',
    'bundle.valid': '{n} destinatarios válidos', 'bundle.rejected': '{n} filas rechazadas', 'bundle.row': 'Fila', 'bundle.values': 'Valores', 'bundle.reason': 'Motivo',
    'bundle.message': 'Mensaje', 'bundle.body': 'Texto del mensaje', 'bundle.bodyHint': 'Los marcadores como {name} se completan para cada destinatario.',
    'bundle.unknown': 'Marcador(es) desconocido(s) {list}: use {known}.', 'bundle.preview': 'Vista previa', 'bundle.summary': '{n} destinatarios (máximo {max}).',
    'bundle.consent': 'Todos los destinatarios aceptaron recibir mensajes de WhatsApp de esta clínica.', 'bundle.send': 'Enviar mensajes',
    'bundle.adminOnly': 'Solo los propietarios y médicos administradores pueden enviar mensajes masivos.', 'bundle.progress': 'Envío {id}', 'bundle.new': 'Nuevo envío',
    'bundle.status': 'Estado', 'bundle.detail': 'Detalle', 'bundle.created': 'Creado {when}',
    'bstatus.queued': 'En cola', 'bstatus.sending': 'Enviando', 'bstatus.completed': 'Completado',
    'rstatus.queued': 'En cola', 'rstatus.sending': 'Enviando', 'rstatus.sent': 'Enviado', 'rstatus.failed': 'Falló', 'rstatus.skipped': 'Omitido', 'rstatus.unknown': 'Desconocido',
    'settings.reminders': 'Recordatorios de citas', 'settings.enabled': 'Enviar recordatorios', 'settings.hours': 'Horas antes de la cita',
    'settings.hoursHint': 'Un número entero de 1 a 72.', 'settings.what': 'Qué recibe el paciente', 'settings.useTemplate': 'Una plantilla aprobada',
    'settings.useCustom': 'Un mensaje personalizado', 'settings.template': 'Plantilla', 'settings.custom': 'Mensaje personalizado',
    'settings.customHint': 'Marcadores: {patient_name}, {when}, {doctor_name}.', 'settings.readOnly': 'Solo los propietarios y médicos administradores pueden cambiar estos ajustes.',
    'settings.numbers': 'Números de WhatsApp', 'settings.number': 'Número', 'settings.displayName': 'Nombre visible', 'settings.actions': 'Acciones',
    'settings.active': 'activo', 'settings.inactive': 'inactivo', 'settings.primary': 'principal', 'settings.makePrimary': 'Hacer principal',
    'settings.deactivate': 'Desactivar', 'settings.deactivateConfirm': '¿Desactivar {phone}? Los pacientes que le escriban ya no llegarán a la clínica.',
    'settings.link': 'Vincular un número existente', 'settings.subaccount': 'Credenciales de subcuenta de Twilio (opcional)', 'settings.subSid': 'SID de la subcuenta',
    'settings.subToken': 'Token de la subcuenta', 'settings.linkButton': 'Vincular número', 'settings.provision': 'Obtener un número nuevo',
    'settings.clinicName': 'Nombre de la clínica', 'settings.country': 'País (2 letras)', 'settings.areaCode': 'Código de área', 'settings.provisionButton': 'Solicitar número',
    'settings.audit': 'Registro de auditoría', 'settings.when': 'Cuándo', 'settings.who': 'Quién', 'settings.action': 'Acción',
    'settings.clinic': 'Clínica', 'settings.later.profile': 'Perfil de la clínica', 'settings.later.contentSids': 'Content SID de las plantillas',
    'settings.later.availability': 'Disponibilidad de los médicos', 'settings.later.members': 'Miembros y funciones',
    'settings.laterNote': 'Estos ajustes llegan con la API de ajustes de la clínica.',
  },
};

export const LANGUAGES = [{ code: 'en', label: 'English' }, { code: 'es', label: 'Español' }];
const KEY = 'medsync.lang';
let current = pick();

function pick() {
  let saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { saved = null; }
  if (saved && STRINGS[saved]) return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const l of langs) { const c = String(l).slice(0, 2).toLowerCase(); if (STRINGS[c]) return c; }
  return 'en';
}

export function language() { return current; }

export function setLanguage(code) {
  if (!STRINGS[code]) return;
  current = code;
  try { localStorage.setItem(KEY, code); } catch (e) { /* private mode: this page only */ }
  applyDocumentLanguage();
}

export function applyDocumentLanguage() {
  document.documentElement.lang = current;
  document.title = STRINGS[current]['app.title'];
}

/** The string for `key` with {vars} filled; `fallback` (when given) for an unknown key. */
export function t(key, vars = {}, fallback) {
  let s = STRINGS[current][key];
  if (s === undefined) s = STRINGS.en[key];
  if (s === undefined) return arguments.length >= 3 ? fallback : key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] !== undefined ? String(vars[k]) : m));
}
