// Starter rules for well-known malware families, written by the Vitrine
// team from public analyses. Each needs several independent traits of the
// family, so that a document merely quoting one string does not match.

rule WannaCry_Ransomware
{
    meta:
        author = "Vitrine team"
        description = "WannaCry (WanaCrypt0r 2.0) ransomware: its kill-switch domain, wallet text and embedded .wnry resource names"
        reference = "https://www.cisa.gov/news-events/alerts/2017/05/12/indicators-associated-wannacry-ransomware"
    strings:
        $pwd = "WNcry@2ol7" ascii
        $res1 = "msg/m_english.wnry" ascii
        $res2 = "c.wnry" ascii
        $res3 = "t.wnry" ascii
        $exe = "tasksche.exe" ascii
        $name = "WanaCrypt0r" ascii wide
        $ks = "iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea" ascii
    condition:
        uint16(0) == 0x5A4D and ($pwd or $ks or 3 of ($res*, $exe, $name))
}

rule Mirai_Botnet_ELF
{
    meta:
        author = "Vitrine team"
        description = "Mirai IoT botnet bot: busybox marker and the default-credential table used for telnet brute force"
        reference = "https://www.usenix.org/conference/usenixsecurity17/technical-sessions/presentation/antonakakis"
    strings:
        $marker = "/bin/busybox MIRAI" ascii
        $dvr = "dvrHelper" ascii
        $c1 = "xc3511" ascii
        $c2 = "vizxv" ascii
        $c3 = "7ujMko0admin" ascii
        $c4 = "Zte521" ascii
        $c5 = "klv1234" ascii
    condition:
        uint32(0) == 0x464C457F and ($marker or ($dvr and 2 of ($c*)) or 4 of ($c*))
}

rule XMRig_CoinMiner
{
    meta:
        author = "Vitrine team"
        description = "XMRig Monero miner, often dropped by intrusions: its banner, pool protocol and donation option together"
        reference = "https://attack.mitre.org/software/S0468/"
    strings:
        $banner = "XMRig" ascii
        $stratum = "stratum+tcp://" ascii
        $donate = "donate-level" ascii
        $algo1 = "cryptonight" ascii nocase
        $algo2 = "randomx" ascii nocase
    condition:
        (uint16(0) == 0x5A4D or uint32(0) == 0x464C457F) and
        $banner and $stratum and $donate and any of ($algo*)
}

rule Mimikatz_Credential_Dumper
{
    meta:
        author = "Vitrine team"
        description = "Mimikatz credential theft tool: module commands and author strings"
        reference = "https://attack.mitre.org/software/S0002/"
    strings:
        $cmd1 = "sekurlsa::logonpasswords" ascii wide nocase
        $cmd2 = "lsadump::sam" ascii wide nocase
        $cmd3 = "kerberos::golden" ascii wide nocase
        $cmd4 = "privilege::debug" ascii wide nocase
        $auth1 = "gentilkiwi" ascii wide
        $auth2 = "mimikatz" ascii wide nocase
    condition:
        uint16(0) == 0x5A4D and 2 of ($cmd*) and any of ($auth*)
}

rule CobaltStrike_Beacon_Strings
{
    meta:
        author = "Vitrine team"
        description = "Cobalt Strike beacon payload: reflective loader export and characteristic format strings"
        reference = "https://attack.mitre.org/software/S0154/"
    strings:
        $loader = "ReflectiveLoader" ascii
        $fmt1 = "%s as %s\\%s: %d" ascii
        $fmt2 = "%02d/%02d/%02d %02d:%02d:%02d" ascii
        $pipe = "\\\\.\\pipe\\MSSE-" ascii
        $beacon = "beacon.dll" ascii
    condition:
        uint16(0) == 0x5A4D and $loader and 2 of ($fmt1, $fmt2, $pipe, $beacon)
}

rule PHP_Webshell_Eval_Request
{
    meta:
        author = "Vitrine team"
        description = "PHP web shell that evaluates code taken straight from the HTTP request"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
    strings:
        $php = "<?php" ascii nocase
        $e1 = /(eval|assert)\s*\(\s*(base64_decode|gzinflate|str_rot13)?\s*\(?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/ ascii nocase
        $e2 = /(system|passthru|shell_exec)\s*\(\s*\$_(POST|GET|REQUEST)\s*\[/ ascii nocase
    condition:
        $php and any of ($e*) and filesize < 1MB
}
