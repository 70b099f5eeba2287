"""Every word the app shows, in Thai and English, in four sets: the installed app's own
(``MANIFEST``: the web manifest, its shortcuts and the service worker's offline page), the
app's screens (``SCREENS``), the job statuses as people read them (``STATUSES``), and the
reasons a crew can give when it reports a problem (``REASONS``).

The app gets the last three as its module ``translations.js`` (written by ``python -m
cdn.build`` from :func:`for_app`), the manifest and the service worker the first, rendered
per locale (server/pwa/shell.py). A key the app asks for and no set has shows as the key
itself.
"""

from __future__ import annotations

from typing import Final, get_args

from server.core.schemas import ProblemReason

MANIFEST: Final[dict[str, dict[str, str]]] = {
    "th": {
        "name": "Tinedy Field · งานภาคสนาม",
        "short_name": "Tinedy",
        "description": "งานทำความสะอาดของวันนี้ เช็คอิน รายการตรวจ และอัปเดตสด แม้ไม่มีสัญญาณ",
        "today": "งานวันนี้",
        "check_in": "เช็คอิน",
        "sync": "ซิงค์ตอนนี้",
        "board": "กระดานจ่ายงาน",
        "offline": "ออฟไลน์ · เปิดแอปอีกครั้งเมื่อมีสัญญาณ",
        "list": "รายการงานวันนี้",
    },
    "en": {
        "name": "Tinedy Field",
        "short_name": "Tinedy",
        "description": "Today's cleaning jobs, check-ins, checklists and live updates, offline too",
        "today": "Today's jobs",
        "check_in": "Check in",
        "sync": "Sync now",
        "board": "Dispatch board",
        "offline": "Offline: open the app again when you have signal",
        "list": "Today's job list",
    },
}

# A status's key names the step button that moves a job into it (``en_route``: "On my way").
SCREENS: Final[dict[str, dict[str, str]]] = {
    "th": {
        "signIn": "เข้าสู่ระบบ",
        "email": "อีเมล",
        "password": "รหัสผ่าน",
        "today": "งานวันนี้",
        "none": "วันนี้ไม่มีงาน",
        "offline": "ออฟไลน์",
        "waiting": "รอส่ง",
        "back": "กลับ",
        "checkIn": "เช็คอิน",
        "checklist": "รายการตรวจ",
        "failed": "ไม่สำเร็จ",
        "signOut": "ออกจากระบบ",
        "sent": "ส่งแล้ว",
        "photos": "รูปถ่าย",
        "addPhoto": "ถ่ายรูป",
        "shared": "รูปที่แชร์มา",
        "attach": "แนบกับงานนี้",
        "processing": "กำลังประมวลผล",
        "unsent": "ยังมีรายการที่ยังไม่ได้ส่ง จะหายไปถ้าออกจากระบบตอนนี้ ออกจากระบบหรือไม่?",
        "board": "กระดานจ่ายงาน",
        "phones": "โทรศัพท์ของทีม",
        "lastSeen": "ติดต่อล่าสุด",
        "skew": "นาฬิกาคลาด",
        "revoke": "ยกเลิกเครื่องนี้",
        "sealed": "ล็อกไว้ รอเข้าสู่ระบบ",
        "notify": "เปิดการแจ้งเตือน",
        "en_route": "กำลังไป",
        "in_progress": "เริ่มงาน",
        "completed": "เสร็จแล้ว",
        "setPassword": "ตั้งรหัสผ่านของคุณ",
        "newPassword": "รหัสผ่านใหม่",
        "repeatPassword": "รหัสผ่านใหม่อีกครั้ง",
        "currentPassword": "รหัสผ่านปัจจุบัน",
        "showPasswords": "แสดงรหัสผ่าน",
        "passwordRule": "อย่างน้อย 8 ตัวอักษร",
        "tooShort": "รหัสผ่านต้องมีอย่างน้อย 8 ตัวอักษร",
        "notSame": "รหัสผ่านสองช่องไม่ตรงกัน",
        "save": "บันทึก",
        "passwordSet": "ตั้งรหัสผ่านเรียบร้อยแล้ว เข้าสู่ระบบด้วยรหัสผ่านนี้ได้เลย",
        "linkSpent": "ลิงก์นี้ถูกใช้ไปแล้วหรือหมดอายุ กรุณาขอลิงก์ใหม่จากออฟฟิศ",
        "linkMissing": "เปิดหน้านี้จากลิงก์ที่ออฟฟิศส่งให้คุณทาง LINE หรือ SMS",
        "forgot": "ลืมรหัสผ่าน?",
        "forgotHelp": "ใส่อีเมลของคุณ ออฟฟิศจะส่งลิงก์สำหรับตั้งรหัสผ่านใหม่ให้ทาง LINE หรือ SMS",
        "askLink": "ขอลิงก์",
        "forgotSent": "หากอีเมลนี้มีบัญชีอยู่ เราได้แจ้งออฟฟิศให้ส่งลิงก์ให้คุณแล้ว",
        "changePassword": "เปลี่ยนรหัสผ่าน",
        "passwordChanged": "เปลี่ยนรหัสผ่านแล้ว อุปกรณ์อื่นของคุณออกจากระบบแล้ว",
        "wrongPassword": "รหัสผ่านปัจจุบันไม่ถูกต้อง",
        "noSignal": "ไม่มีสัญญาณ ลองอีกครั้งเมื่อมีสัญญาณ",
        "tryLater": "ยังทำไม่ได้ในตอนนี้ ลองอีกครั้งในอีกสักครู่",
        "otherLanguage": "English",
        "checkOut": "เช็คเอาท์",
        "checkedIn": "เช็คอินแล้ว",
        "checkedOut": "เช็คเอาท์แล้ว",
        "locating": "กำลังหาตำแหน่ง…",
        "locationDenied": "แอปไม่ได้รับอนุญาตให้ใช้ตำแหน่ง จึงบันทึกไว้โดยไม่มีตำแหน่ง "
        "ครั้งหน้าให้อนุญาตตำแหน่งสำหรับเว็บนี้ในการตั้งค่าของเบราว์เซอร์",
        "locationUnavailable": "หาตำแหน่งไม่ได้ในตอนนี้ จึงบันทึกไว้โดยไม่มีตำแหน่ง",
        "call": "โทรหาลูกค้า",
        "openMap": "เปิดแผนที่",
        "crew": "ทีมงาน",
        "lead": "หัวหน้าทีม",
        "leadMoves": "หัวหน้าทีมเป็นผู้เปลี่ยนสถานะงาน",
        "reportProblem": "แจ้งปัญหา",
        "whatHappened": "เกิดอะไรขึ้น?",
        "details": "รายละเอียด (ไม่บังคับ)",
        "problemPhoto": "แนบรูป (ไม่บังคับ)",
        "sendReport": "ส่งรายงาน",
        "onHoldNote": "งานนี้พักไว้ก่อน ออฟฟิศได้รับแจ้งแล้ว",
        "fieldNotes": "บันทึกจากหน้างาน",
        "addRemark": "เพิ่มบันทึก",
        "remarkHint": "เขียนถึงออฟฟิศหรือทีม",
        "problem": "ปัญหา",
        "photosShrunk": "ย่อรูปก่อนส่ง ประหยัดเน็ตไปแล้ว",
    },
    "en": {
        "signIn": "Sign in",
        "email": "Email",
        "password": "Password",
        "today": "Today's jobs",
        "none": "No jobs today",
        "offline": "Offline",
        "waiting": "waiting",
        "back": "Back",
        "checkIn": "Check in",
        "checklist": "Checklist",
        "failed": "Failed",
        "signOut": "Sign out",
        "sent": "Sent",
        "photos": "Photos",
        "addPhoto": "Take a photo",
        "shared": "Shared photos",
        "attach": "Attach to this job",
        "processing": "processing",
        "unsent": "Some changes have not been sent yet and will be lost if you sign out now. "
        "Sign out?",
        "board": "Dispatch board",
        "phones": "Team phones",
        "lastSeen": "last contact",
        "skew": "clock off by",
        "revoke": "Sign this phone out",
        "sealed": "locked until you sign in",
        "notify": "Turn on notifications",
        "en_route": "On my way",
        "in_progress": "Start",
        "completed": "Done",
        "setPassword": "Set your password",
        "newPassword": "New password",
        "repeatPassword": "New password again",
        "currentPassword": "Current password",
        "showPasswords": "Show passwords",
        "passwordRule": "At least 8 characters",
        "tooShort": "The password needs at least 8 characters",
        "notSame": "The two passwords are not the same",
        "save": "Save",
        "passwordSet": "Your password is set. Sign in with it now.",
        "linkSpent": "This link has been used or has expired. Ask the office for a new one.",
        "linkMissing": "Open this page from the link the office sent you by LINE or SMS.",
        "forgot": "Forgot password?",
        "forgotHelp": "Enter your email: the office sends you a link to set a new password, "
        "by LINE or SMS.",
        "askLink": "Ask for a link",
        "forgotSent": "If this email has an account, the office has been asked to send you a link.",
        "changePassword": "Change password",
        "passwordChanged": "Your password is changed. Your other devices are signed out.",
        "wrongPassword": "The current password is wrong",
        "noSignal": "No connection. Try again when you have signal.",
        "tryLater": "That did not work just now. Try again in a moment.",
        "otherLanguage": "ไทย",
        "checkOut": "Check out",
        "checkedIn": "Checked in",
        "checkedOut": "Checked out",
        "locating": "Finding your location…",
        "locationDenied": "Location is blocked for this app, so this was recorded without "
        "your location. Next time, allow location for this site in the browser's settings.",
        "locationUnavailable": "Your location could not be found just now, so this was "
        "recorded without it.",
        "call": "Call the customer",
        "openMap": "Open in Maps",
        "crew": "Crew",
        "lead": "Lead",
        "leadMoves": "The crew's lead moves the job along.",
        "reportProblem": "Report a problem",
        "whatHappened": "What happened?",
        "details": "Details (optional)",
        "problemPhoto": "Add a photo (optional)",
        "sendReport": "Send the report",
        "onHoldNote": "This job is on hold: the office has been told.",
        "fieldNotes": "Field notes",
        "addRemark": "Add a remark",
        "remarkHint": "A note for the office or the crew",
        "problem": "Problem",
        "photosShrunk": "Data saved by shrinking photos",
    },
}

STATUSES: Final[dict[str, dict[str, str]]] = {
    "th": {
        "pending": "รอจ่ายงาน",
        "assigned": "ได้รับงาน",
        "en_route": "กำลังเดินทาง",
        "in_progress": "กำลังทำ",
        "on_hold": "พักงาน",
        "completed": "เสร็จแล้ว",
        "cancelled": "ยกเลิก",
    },
    "en": {
        "pending": "Pending",
        "assigned": "Assigned",
        "en_route": "On the way",
        "in_progress": "In progress",
        "on_hold": "On hold",
        "completed": "Completed",
        "cancelled": "Cancelled",
    },
}

# The reasons a crew gives when it reports a problem (the app offers them with "other" last).
REASONS: Final[dict[str, dict[str, str]]] = {
    "th": {
        "customer_absent": "ลูกค้าไม่อยู่",
        "no_access": "เข้าบ้านหรืออาคารไม่ได้",
        "unsafe": "ไม่ปลอดภัย",
        "needs_reschedule": "ต้องเลื่อนนัด",
        "other": "อื่น ๆ",
    },
    "en": {
        "customer_absent": "The customer is not there",
        "no_access": "Cannot get in",
        "unsafe": "Not safe to work",
        "needs_reschedule": "Needs another day",
        "other": "Something else",
    },
}


def for_app() -> dict[str, dict[str, dict[str, str]]]:
    """What ``translations.js`` holds: the reasons are the server's (a reason without words
    stops the build)."""
    reasons = {
        locale: {reason: words[reason] for reason in get_args(ProblemReason)}
        for locale, words in REASONS.items()
    }
    return {"screens": SCREENS, "statuses": STATUSES, "reasons": reasons}
