/*
 * wlgen.c - `gen watchlist`: writes a watch list of N realistic
 * organization names (companies, universities, labs, intermediaries), each
 * with its aliases: the full name, often a short form, an English name,
 * and, where Taiwan usage words it differently (資訊 for 信息, 軟體 for
 * 软件 ...), a Traditional form.  Used to measure tenderidx at 1k, 10k and
 * 50k names, and by `gen -w` to plant them.
 *
 * Names are built from place + core + kind (杭州 + 瀚腾 + 信息技术 +
 * 有限公司); no core is one of the cores of the generator's filler
 * companies (grammar.h, core_f), so planted names and filler stay apart.  No two
 * entities share an alias after normalization (the normalized forms are
 * kept in a hash set), and a Traditional alias is written only when it
 * normalizes differently from the Simplified one.
 *
 * Deterministic per --seed; single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "gen.h"

int wlgen_main(int argc, char **argv);

typedef struct py {
    const char *zh, *en;
} py;

static const py PLACES[] = {
    {"北京", "Beijing"},    {"上海", "Shanghai"},       {"天津", "Tianjin"},
    {"重庆", "Chongqing"},  {"广州", "Guangzhou"},      {"深圳", "Shenzhen"},
    {"珠海", "Zhuhai"},     {"东莞", "Dongguan"},       {"佛山", "Foshan"},
    {"杭州", "Hangzhou"},   {"宁波", "Ningbo"},         {"温州", "Wenzhou"},
    {"南京", "Nanjing"},    {"苏州", "Suzhou"},         {"无锡", "Wuxi"},
    {"常州", "Changzhou"},  {"合肥", "Hefei"},          {"芜湖", "Wuhu"},
    {"济南", "Jinan"},      {"青岛", "Qingdao"},        {"烟台", "Yantai"},
    {"成都", "Chengdu"},    {"绵阳", "Mianyang"},       {"武汉", "Wuhan"},
    {"长沙", "Changsha"},   {"郑州", "Zhengzhou"},      {"洛阳", "Luoyang"},
    {"西安", "Xi'an"},      {"福州", "Fuzhou"},         {"厦门", "Xiamen"},
    {"哈尔滨", "Harbin"},   {"沈阳", "Shenyang"},       {"大连", "Dalian"},
    {"长春", "Changchun"},  {"南昌", "Nanchang"},       {"南宁", "Nanning"},
    {"昆明", "Kunming"},    {"贵阳", "Guiyang"},        {"太原", "Taiyuan"},
    {"兰州", "Lanzhou"},    {"石家庄", "Shijiazhuang"}, {"呼和浩特", "Hohhot"},
    {"乌鲁木齐", "Urumqi"}, {"海口", "Haikou"},         {"银川", "Yinchuan"},
    {"西宁", "Xining"},     {"拉萨", "Lhasa"},          {"江苏", "Jiangsu"},
    {"浙江", "Zhejiang"},   {"广东", "Guangdong"},      {"山东", "Shandong"},
    {"四川", "Sichuan"},    {"湖北", "Hubei"},          {"湖南", "Hunan"},
    {"河南", "Henan"},      {"安徽", "Anhui"},          {"福建", "Fujian"},
    {"陕西", "Shaanxi"},    {"江西", "Jiangxi"},        {"辽宁", "Liaoning"},
};
#define NPLACES (sizeof PLACES / sizeof PLACES[0])

/* Regions for university names. */
static const py REGIONS[] = {
    {"华东", "East China"},    {"华南", "South China"},  {"华北", "North China"},
    {"西南", "Southwest"},     {"西北", "Northwest"},    {"东北", "Northeast"},
    {"中南", "Central South"}, {"江南", "Jiangnan"},     {"岭南", "Lingnan"},
    {"燕山", "Yanshan"},       {"太湖", "Taihu"},        {"秦岭", "Qinling"},
    {"长江", "Changjiang"},    {"黄河", "Yellow River"}, {"渤海", "Bohai"},
    {"东海", "Donghai"},       {"南海", "Nanhai"},       {"天山", "Tianshan"},
};
#define NREGIONS (sizeof REGIONS / sizeof REGIONS[0])

/* Core syllables: no pair of them is a filler core of grammar.h. */
static const py CORE_A[] = {
    {"瀚", "Han"},   {"锐", "Rui"},   {"昊", "Hao"},  {"澜", "Lan"},   {"璟", "Jing"},
    {"晟", "Sheng"}, {"睿", "Rui"},   {"弘", "Hong"}, {"泓", "Hong"},  {"骏", "Jun"},
    {"峻", "Jun"},   {"翔", "Xiang"}, {"铭", "Ming"}, {"钧", "Jun"},   {"乾", "Qian"},
    {"坤", "Kun"},   {"煜", "Yu"},    {"熠", "Yi"},   {"烨", "Ye"},    {"珩", "Heng"},
    {"曜", "Yao"},   {"朗", "Lang"},  {"沐", "Mu"},   {"凯", "Kai"},   {"启", "Qi"},
    {"康", "Kang"},  {"宸", "Chen"},  {"亿", "Yi"},   {"兆", "Zhao"},  {"旭", "Xu"},
    {"耀", "Yao"},   {"辰", "Chen"},  {"凌", "Ling"}, {"霆", "Ting"},  {"霖", "Lin"},
    {"骁", "Xiao"},  {"擎", "Qing"},  {"巍", "Wei"},  {"崇", "Chong"}, {"岳", "Yue"},
    {"泽", "Ze"},    {"沛", "Pei"},   {"昕", "Xin"},  {"昱", "Yu"},    {"晖", "Hui"},
    {"炜", "Wei"},   {"灏", "Hao"},   {"鑫", "Xin"},  {"淼", "Miao"},  {"垚", "Yao"},
};
static const py CORE_B[] = {
    {"腾", "teng"},  {"驰", "chi"},  {"图", "tu"},    {"维", "wei"},   {"扬", "yang"},
    {"辉", "hui"},   {"航", "hang"}, {"峰", "feng"},  {"途", "tu"},    {"程", "cheng"},
    {"锋", "feng"},  {"奕", "yi"},   {"骐", "qi"},    {"骋", "cheng"}, {"琪", "qi"},
    {"璇", "xuan"},  {"珑", "long"}, {"瑜", "yu"},    {"翊", "yi"},    {"寰", "huan"},
    {"霄", "xiao"},  {"熙", "xi"},   {"曦", "xi"},    {"麟", "lin"},   {"钛", "tai"},
    {"砺", "li"},    {"湃", "pai"},  {"澄", "cheng"}, {"衡", "heng"},  {"桓", "huan"},
    {"穹", "qiong"}, {"曼", "man"},  {"岚", "lan"},   {"枫", "feng"},  {"桐", "tong"},
};

/* Kinds of company: Simplified, English, Taiwan wording (NULL: same). */
typedef struct kind {
    const char *zh, *en, *tw;
} kind;

static const kind INDUSTRIES[] = {
    {"信息技术", "Information Technology", "资讯科技"},
    {"电子科技", "Electronic Technology", NULL},
    {"智能科技", "Intelligent Technology", "智慧科技"},
    {"网络科技", "Network Technology", "网路科技"},
    {"数据科技", "Data Technology", "资料科技"},
    {"软件", "Software", "软体"},
    {"计算机系统", "Computer Systems", "电脑系统"},
    {"半导体", "Semiconductor", NULL},
    {"微电子", "Microelectronics", NULL},
    {"通信技术", "Communication Technology", "通讯技术"},
    {"光电科技", "Optoelectronics", NULL},
    {"集成电路", "Integrated Circuit", "积体电路"},
    {"人工智能", "Artificial Intelligence", "人工智慧"},
    {"超算科技", "Supercomputing Technology", NULL},
    {"云计算", "Cloud Computing", "云端运算"},
};
#define NINDUSTRIES (sizeof INDUSTRIES / sizeof INDUSTRIES[0])

static const kind CORPS[] = {
    {"有限公司", "Co., Ltd.", NULL},
    {"股份有限公司", "Corporation", NULL},
    {"有限责任公司", "Company Limited", NULL},
};

static const kind UNIV_FIELDS[] = {
    {"理工", "University of Technology", NULL},
    {"科技", "University of Science and Technology", NULL},
    {"工业", "Polytechnic University", NULL},
    {"工程", "Engineering University", NULL},
    {"电子科技", "University of Electronic Technology", NULL},
    {"信息工程", "University of Information Engineering", "资讯工程"},
    {"航空航天", "University of Aeronautics and Astronautics", NULL},
    {"交通", "Jiaotong University", NULL},
    {"邮电", "University of Posts and Telecommunications", NULL},
    {"电力", "Electric Power University", NULL},
    {"计算机", "University of Computer Science", "电脑"},
    {"海洋", "Ocean University", NULL},
    {"财经", "University of Finance and Economics", NULL},
    {"师范", "Normal University", NULL},
    {"医科", "Medical University", NULL},
    {"农业", "Agricultural University", NULL},
    {"林业", "Forestry University", NULL},
    {"中医药", "University of Chinese Medicine", NULL},
    {"外国语", "International Studies University", NULL},
    {"政法", "University of Political Science and Law", NULL},
    {"石油", "Petroleum University", NULL},
    {"化工", "University of Chemical Technology", NULL},
    {"建筑", "University of Architecture", NULL},
    {"信息科技", "University of Information Science and Technology", "资讯科技"},
    {"网络空间安全", "University of Cyberspace Security", "网路空间安全"},
    {"智能科技", "University of Intelligent Technology", "智慧科技"},
};

static const kind LAB_FIELDS[] = {
    {"量子计算", "Quantum Computing", "量子运算"},
    {"类脑智能", "Brain-inspired Intelligence", "类脑智慧"},
    {"先进计算", "Advanced Computing", "先进运算"},
    {"智能感知", "Intelligent Sensing", "智慧感知"},
    {"光子芯片", "Photonic Chips", NULL},
    {"集成电路设计", "Integrated Circuit Design", "积体电路设计"},
    {"空天信息", "Aerospace Information", "空天资讯"},
    {"深海技术", "Deep Sea Technology", NULL},
    {"智能机器人", "Intelligent Robotics", "智慧机器人"},
    {"网络通信", "Network Communication", "网路通讯"},
    {"数字孪生", "Digital Twin", NULL},
    {"超级计算", "Supercomputing", "超级电脑"},
    {"高性能芯片", "High-performance Chips", NULL},
    {"智能算力", "Intelligent Computing Power", "智慧算力"},
};

static const kind LAB_KINDS[] = {
    {"实验室", "Laboratory", NULL},
    {"研究院", "Research Institute", NULL},
    {"创新中心", "Innovation Center", NULL},
    {"研究中心", "Research Center", NULL},
};

static const kind AGENT_KINDS[] = {
    {"国际招标有限公司", "International Tendering Co., Ltd.", NULL},
    {"进出口有限公司", "Import and Export Co., Ltd.", NULL},
    {"国际贸易有限公司", "International Trading Co., Ltd.", NULL},
    {"招标代理有限公司", "Tendering Agency Co., Ltd.", NULL},
    {"供应链管理有限公司", "Supply Chain Management Co., Ltd.", NULL},
};

#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- one entity -------------------------------------------------------------------- */

typedef struct wlg {
    gen_norm gn;
    gen_strmap seen; /* normalized aliases taken */
    tdx_buf norm, trad, rows;
    FILE *f;
} wlg;

/* Normalized form of s into out (ASCII needs only lower case and spaces). */
static void norm_into(wlg *g, const char *s, char *out, size_t cap)
{
    int ascii = 1;
    for (const char *p = s; *p; p++)
        ascii &= (unsigned char)*p < 0x80;
    if (!ascii) {
        gen_normalize(&g->gn, s, strlen(s), &g->norm, NULL, NULL);
        snprintf(out, cap, "%s", (const char *)g->norm.p);
        return;
    }
    size_t o = 0;
    for (const char *p = s; *p && o + 1 < cap; p++) {
        if (*p == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = 0;
}

static int taken(const wlg *g, const char *norm)
{
    return gen_strmap_get(&g->seen, norm) != UINT32_MAX;
}

typedef struct cand {
    char zh[192], en[256], tw_simp[192], short_zh[96];
} cand;

/* Write the entity's rows if none of its aliases is taken; 1 when written. */
static int emit(wlg *g, rng *r, const char *cat, const cand *c)
{
    const char *al[4] = {c->zh, c->en, NULL, NULL};
    char tw[256], n[4][256];
    if (c->short_zh[0] && rng_unit(r) < 0.7)
        al[2] = c->short_zh;
    if (c->tw_simp[0] && rng_unit(r) < 0.45) {
        gen_to_trad(&g->gn, c->tw_simp, strlen(c->tw_simp), &g->trad);
        snprintf(tw, sizeof tw, "%s", (const char *)g->trad.p);
        al[3] = tw;
    }
    /* the full name must be free; optional aliases are dropped when taken */
    norm_into(g, c->zh, n[0], sizeof n[0]);
    if (taken(g, n[0]))
        return 0;
    norm_into(g, c->en, n[1], sizeof n[1]);
    if (taken(g, n[1]) || strcmp(n[0], n[1]) == 0)
        return 0;
    for (int i = 2; i < 4; i++) {
        if (al[i] == NULL)
            continue;
        norm_into(g, al[i], n[i], sizeof n[i]);
        if (taken(g, n[i]) || strcmp(n[i], n[0]) == 0 ||
            (i == 3 && al[2] && strcmp(n[3], n[2]) == 0))
            al[i] = NULL;
    }
    for (int i = 0; i < 4; i++) {
        if (al[i] == NULL)
            continue;
        gen_strmap_put(&g->seen, n[i], 0);
        fprintf(g->f, "%s\t%s\t%s\n", c->zh, cat, al[i]);
    }
    return 1;
}

static const py *pick(rng *r, const py *v, uint32_t n)
{
    return &v[rng_below(r, n)];
}

static const kind *pickk(rng *r, const kind *v, uint32_t n)
{
    return &v[rng_below(r, n)];
}

static void core(rng *r, char *zh, size_t zcap, char *en, size_t ecap)
{
    const py *a = pick(r, CORE_A, N(CORE_A)), *b = pick(r, CORE_B, N(CORE_B));
    snprintf(zh, zcap, "%s%s", a->zh, b->zh);
    snprintf(en, ecap, "%s%s", a->en, b->en);
}

static void make_company(rng *r, cand *c)
{
    const py *pl = pick(r, PLACES, N(PLACES));
    const kind *in = pickk(r, INDUSTRIES, N(INDUSTRIES)), *co = pickk(r, CORPS, N(CORPS));
    char cz[16], ce[32];
    core(r, cz, sizeof cz, ce, sizeof ce);
    snprintf(c->zh, sizeof c->zh, "%s%s%s%s", pl->zh, cz, in->zh, co->zh);
    snprintf(c->en, sizeof c->en, "%s %s %s %s", pl->en, ce, in->en, co->en);
    if (rng_below(r, 2))
        snprintf(c->short_zh, sizeof c->short_zh, "%s%s", cz, in->zh);
    else
        snprintf(c->short_zh, sizeof c->short_zh, "%s%s", pl->zh, cz);
    if (in->tw)
        snprintf(c->tw_simp, sizeof c->tw_simp, "%s%s%s%s", pl->zh, cz, in->tw, co->zh);
}

static void make_university(rng *r, cand *c)
{
    const py *pl = rng_below(r, 3) ? pick(r, PLACES, N(PLACES)) : pick(r, REGIONS, N(REGIONS));
    const kind *f = pickk(r, UNIV_FIELDS, N(UNIV_FIELDS));
    const char *fe = f->en + (strncmp(f->en, "University of ", 14) == 0 ? 14 : 0);
    uint32_t form = rng_below(r, 8);
    if (form == 0) {
        /* a private college named for its founders' brand */
        char cz[16], ce[32];
        core(r, cz, sizeof cz, ce, sizeof ce);
        snprintf(c->zh, sizeof c->zh, "%s%s学院", pl->zh, cz);
        snprintf(c->en, sizeof c->en, "%s %s College", pl->en, ce);
        snprintf(c->short_zh, sizeof c->short_zh, "%s学院", cz);
        return;
    }
    const char *zk = form < 5 ? "大学" : form < 7 ? "学院" : "职业技术学院";
    if (form < 5)
        snprintf(c->en, sizeof c->en, "%s %s", pl->en, f->en);
    else if (form < 7)
        snprintf(c->en, sizeof c->en, "%s Institute of %s", pl->en, fe);
    else
        snprintf(c->en, sizeof c->en, "%s Vocational College of %s", pl->en, fe);
    snprintf(c->zh, sizeof c->zh, "%s%s%s", pl->zh, f->zh, zk);
    if (form < 5) {
        /* short forms in the style of 哈工大, 西工大: first characters + 大 */
        char a[8] = {0}, b[8] = {0};
        size_t l;
        gen_cp((const uint8_t *)pl->zh, (const uint8_t *)pl->zh + strlen(pl->zh), &l);
        memcpy(a, pl->zh, l);
        gen_cp((const uint8_t *)f->zh, (const uint8_t *)f->zh + strlen(f->zh), &l);
        memcpy(b, f->zh, l);
        snprintf(c->short_zh, sizeof c->short_zh, "%s%s大", a, b);
    }
    if (f->tw)
        snprintf(c->tw_simp, sizeof c->tw_simp, "%s%s%s", pl->zh, f->tw, zk);
}

static void make_lab(rng *r, cand *c)
{
    const py *pl = pick(r, PLACES, N(PLACES));
    const kind *f = pickk(r, LAB_FIELDS, N(LAB_FIELDS)), *k = pickk(r, LAB_KINDS, N(LAB_KINDS));
    int cas = rng_below(r, 4) == 0;
    if (cas) {
        snprintf(c->zh, sizeof c->zh, "中国科学院%s%s研究所", pl->zh, f->zh);
        snprintf(c->en, sizeof c->en, "%s Institute of %s, Chinese Academy of Sciences", pl->en,
                 f->en);
        snprintf(c->short_zh, sizeof c->short_zh, "中科院%s%s所", pl->zh, f->zh);
        if (f->tw)
            snprintf(c->tw_simp, sizeof c->tw_simp, "中国科学院%s%s研究所", pl->zh, f->tw);
        return;
    }
    char cz[16], ce[32];
    core(r, cz, sizeof cz, ce, sizeof ce);
    int named = rng_below(r, 2);
    if (named) {
        snprintf(c->zh, sizeof c->zh, "%s%s%s", cz, f->zh, k->zh);
        snprintf(c->en, sizeof c->en, "%s %s %s", ce, f->en, k->en);
        snprintf(c->short_zh, sizeof c->short_zh, "%s%s", cz, k->zh);
        if (f->tw)
            snprintf(c->tw_simp, sizeof c->tw_simp, "%s%s%s", cz, f->tw, k->zh);
    } else {
        snprintf(c->zh, sizeof c->zh, "%s%s%s%s", pl->zh, cz, f->zh, k->zh);
        snprintf(c->en, sizeof c->en, "%s %s %s %s", pl->en, ce, f->en, k->en);
        snprintf(c->short_zh, sizeof c->short_zh, "%s%s", pl->zh, cz);
        if (f->tw)
            snprintf(c->tw_simp, sizeof c->tw_simp, "%s%s%s%s", pl->zh, cz, f->tw, k->zh);
    }
}

static void make_intermediary(rng *r, cand *c)
{
    char cz[16], ce[32];
    core(r, cz, sizeof cz, ce, sizeof ce);
    if (rng_below(r, 5) == 0) {
        /* the Hong Kong trading company of many reports */
        snprintf(c->zh, sizeof c->zh, "%s科技（香港）有限公司", cz);
        snprintf(c->en, sizeof c->en, "%s Technology (Hong Kong) Limited", ce);
        snprintf(c->short_zh, sizeof c->short_zh, "香港%s", cz);
        snprintf(c->tw_simp, sizeof c->tw_simp, "%s科技（香港）有限公司", cz);
        c->tw_simp[0] = 0; /* Traditional is only the script here: nothing to add */
        return;
    }
    const py *pl = pick(r, PLACES, N(PLACES));
    const kind *k = pickk(r, AGENT_KINDS, N(AGENT_KINDS));
    snprintf(c->zh, sizeof c->zh, "%s%s%s", pl->zh, cz, k->zh);
    snprintf(c->en, sizeof c->en, "%s %s %s", pl->en, ce, k->en);
    const char *suffix = strstr(k->zh, "有限公司");
    snprintf(c->short_zh, sizeof c->short_zh, "%s%.*s", cz, (int)(suffix - k->zh), k->zh);
}

static void wl_usage(FILE *f)
{
    fprintf(f, "usage: gen watchlist [--names N] [--seed S] [-o FILE]\n"
               "\n"
               "Writes a watch list of N organization names (companies 55%%, universities\n"
               "15%%, labs 15%%, intermediaries 15%%), one row per alias: the full name, often\n"
               "a short form, an English name, and a Traditional form where Taiwan usage\n"
               "words it differently.  No alias is shared by two entities.  Deterministic\n"
               "per --seed.  Plant them with `gen -w FILE`.\n"
               "\n"
               "  -n, --names N   number of entities (default 1000)\n"
               "  -s, --seed S    seed (default 1)\n"
               "  -o, --output F  file (default stdout)\n"
               "  -h, --help\n");
}

int wlgen_main(int argc, char **argv)
{
    uint64_t names = 1000, seed = 1;
    const char *output = NULL;
    static const struct option lo[] = {{"names", required_argument, 0, 'n'},
                                       {"seed", required_argument, 0, 's'},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:s:o:h", lo, NULL)) != -1) {
        char *e;
        switch (c) {
        case 'n':
        case 's': {
            errno = 0;
            unsigned long long v = strtoull(optarg, &e, 10);
            if (errno || *e || e == optarg || *optarg == '-' || (c == 'n' && v > 10000000)) {
                fprintf(stderr, "gen watchlist: invalid value '%s' for --%s\n", optarg,
                        c == 'n' ? "names" : "seed");
                return GEN_EXIT_USAGE;
            }
            *(c == 'n' ? &names : &seed) = v;
            break;
        }
        case 'o':
            output = optarg;
            break;
        case 'h':
            wl_usage(stdout);
            return GEN_EXIT_OK;
        default:
            wl_usage(stderr);
            return GEN_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gen watchlist: unexpected argument '%s'\n", argv[optind]);
        return GEN_EXIT_USAGE;
    }
    wlg g;
    memset(&g, 0, sizeof g);
    gen_norm_open(&g.gn);
    g.f = output ? fopen(output, "wb") : stdout;
    if (g.f == NULL)
        gen_die("cannot write '%s': %s", output, strerror(errno));
    setvbuf(g.f, NULL, _IOFBF, 1 << 20);
    fprintf(g.f,
            "# Generated by `gen watchlist --names %" PRIu64 " --seed %" PRIu64 "`: fictitious\n"
            "# organizations for tests and benchmarks.  Format: see corpus/watchlist.tsv.\n",
            names, seed);
    rng r = rng_for(seed, 3, 0);
    uint64_t made = 0, tries = 0;
    while (made < names) {
        if (++tries > names * 50 + 1000)
            gen_die("cannot make %" PRIu64 " distinct names (made %" PRIu64 ")", names, made);
        cand cd;
        memset(&cd, 0, sizeof cd);
        double u = rng_unit(&r);
        const char *cat;
        if (u < 0.55) {
            make_company(&r, &cd);
            cat = "company";
        } else if (u < 0.70) {
            make_university(&r, &cd);
            cat = "university";
        } else if (u < 0.85) {
            make_lab(&r, &cd);
            cat = "lab";
        } else {
            make_intermediary(&r, &cd);
            cat = "intermediary";
        }
        made += (uint64_t)emit(&g, &r, cat, &cd);
    }
    if (fflush(g.f) != 0 || ferror(g.f) || (output && fclose(g.f) != 0))
        gen_die("write error: %s", strerror(errno));
    gen_strmap_free(&g.seen);
    tdx_buf_free(&g.norm);
    tdx_buf_free(&g.trad);
    tdx_buf_free(&g.rows);
    gen_norm_close(&g.gn);
    return GEN_EXIT_OK;
}
